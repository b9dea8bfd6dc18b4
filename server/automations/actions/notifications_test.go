package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// hook is a local HTTP server standing in for Slack and for webhooks: it
// records what it is sent, by path, and answers as the path asks.
type hook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]*http.Request
	raw map[string][]byte
}

func newHook(t *testing.T) *hook {
	h := &hook{got: map[string]*http.Request{}, raw: map[string][]byte{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got[r.URL.Path], h.raw[r.URL.Path] = r, b
		h.mu.Unlock()
		switch {
		case strings.Contains(r.URL.Path, "/fail"):
			w.WriteHeader(http.StatusInternalServerError)
		case strings.HasPrefix(r.URL.Path, "/services/"):
			_, _ = w.Write([]byte("ok")) // Slack's answer
		default:
			w.Header().Set("X-Answer", "yes")
			w.Header().Set("Set-Cookie", "session=secret")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"received": true}`))
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// toHook sends Slack's requests to the hook: the far end is real HTTP, the
// address is the test's.
type toHook struct{ target *url.URL }

func (t toHook) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "hooks.slack.com" {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = t.target.Scheme, t.target.Host
	}
	return http.DefaultTransport.RoundTrip(r)
}

// notifyCases are blocks with what they send; "BASE" stands for the hook's
// address.
var notifyCases = []struct {
	name, kind, slug string
	data             string
	subject, body    string
	payload          string
}{
	{name: "slack", kind: "slack", slug: "slack-webhook", data: `{"url": "https://hooks.slack.com/services/T00/B00/A1"}`,
		subject: "  Run <done> & dusted ", body: "Flow & friends: ann <@U123|ann> <!here> <http://x.example/a?b=1&c=2|link> *bold*\n\n"},
	{name: "slack failure type", kind: "slack", slug: "slack-webhook",
		data: `{"url": "https://hooks.slack.com/services/T00/B00/A2", "notify_type": "failure"}`, subject: "", body: "just a body"},
	{name: "slack refused", kind: "slack", slug: "slack-webhook", data: `{"url": "https://hooks.slack.com/services/T00/B00/fail"}`,
		subject: "s", body: "b"},
	{name: "custom json", kind: "custom", slug: "custom-webhook", data: `{"name": "hooky", "url": "BASE/custom/json?src={{name}}",
		"json_data": {"text": "{{subject}}: {{ body }}", "body": "{{body}}", "who": "{{name}}", "token": "{{tok}}", "n": 1.5,
		"list": ["{{subject}}", 2]}, "headers": {"X-Token": "{{tok}}"}, "params": {"q": "{{subject}}"}, "secrets": {"tok": "s3"}}`,
		subject: "Subject é", body: "Body \"quoted\""},
	{name: "custom form", kind: "custom", slug: "custom-webhook", data: `{"name": "formy", "url": "BASE/custom/form", "method": "PUT",
		"form_data": {"subject": "{{subject}}", "body": "{{body}}"}}`, subject: "a&b", body: "c d"},
	{name: "custom text", kind: "custom", slug: "custom-webhook", data: `{"name": "texty", "url": "BASE/custom/text",
		"form_data": "{{subject}} - {{body}}"}`, subject: "s", body: "b"},
	{name: "custom both", kind: "custom", slug: "custom-webhook", data: `{"name": "both", "url": "BASE/custom/both",
		"form_data": {"a": "b"}, "json_data": {"c": "d"}}`, subject: "s", body: "b"},
	{name: "custom unknown", kind: "custom", slug: "custom-webhook", data: `{"name": "unknown", "url": "BASE/custom/unknown",
		"headers": {"X-Secret": "{{ nope }}"}}`, subject: "s", body: "b"},
	{name: "webhook", kind: "webhook", slug: "webhook", data: `{"method": "PATCH", "url": "BASE/hook/1",
		"headers": {"Authorization": "Bearer x", "X-A": "b"}}`, payload: `{"who": "ann"}`},
	{name: "webhook empty", kind: "webhook", slug: "webhook", data: `{"url": "BASE/hook/2"}`, payload: ``},
}

func TestNotificationsAndWebhooksSendWhatPrefectsBlocksSend(t *testing.T) {
	t.Parallel()
	python := os.Getenv("PREFECTGO_TEST_PYTHON")
	if python == "" {
		t.Skip("PREFECTGO_TEST_PYTHON is not set; `make test-go` sets it to the pinned prefect's venv")
	}
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		theirs, ours := newHook(t), newHook(t)
		var cases []map[string]any
		for _, c := range notifyCases {
			var data map[string]any
			require.NoError(t, json.Unmarshal([]byte(strings.ReplaceAll(c.data, "BASE", theirs.srv.URL)), &data), c.name)
			cases = append(cases, map[string]any{"kind": c.kind, "data": data, "subject": c.subject, "body": c.body, "payload": c.payload})
		}
		in, err := json.Marshal(map[string]any{"target": theirs.srv.URL, "cases": cases})
		require.NoError(t, err)
		cmd := exec.Command(python, "testdata/prefect_notify.py")
		cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir())
		cmd.Stdin = bytes.NewReader(in)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, stderr.String())
		var answers []struct {
			OK         bool    `json:"ok"`
			Error      string  `json:"error"`
			StatusCode float64 `json:"status_code"`
		}
		require.NoError(t, json.Unmarshal(out, &answers))

		f := newFixture(t, open)
		target, _ := url.Parse(ours.srv.URL)
		f.actor.HTTP = &http.Client{Transport: toHook{target}}
		ctx := context.Background()
		ev := eventAbout("x", schema.Resource{"prefect.resource.id": "x.1"})
		schemas := map[string][2]any{} // by slug: the type's id and its schema's
		for i, c := range notifyCases {
			if _, ok := schemas[c.slug]; !ok {
				bt := f.do(http.MethodPost, "/block_types/", map[string]any{"name": c.slug, "slug": c.slug})
				capabilities := []string{}
				if c.kind != "webhook" {
					capabilities = []string{"notify"}
				}
				bs := f.do(http.MethodPost, "/block_schemas/", map[string]any{"block_type_id": bt["id"],
					"fields": map[string]any{"properties": map[string]any{}}, "capabilities": capabilities})
				schemas[c.slug] = [2]any{bt["id"], bs["id"]}
			}
			bt, bs := map[string]any{"id": schemas[c.slug][0]}, map[string]any{"id": schemas[c.slug][1]}
			var data map[string]any
			require.NoError(t, json.Unmarshal([]byte(strings.ReplaceAll(c.data, "BASE", ours.srv.URL)), &data))
			doc := f.do(http.MethodPost, "/block_documents/", map[string]any{"name": strings.ReplaceAll(c.name, " ", "-"),
				"block_type_id": bt["id"], "block_schema_id": bs["id"], "data": data})
			act := `{"type":"send-notification","block_document_id":"` + doc["id"].(string) + `","subject":` + jsonText(c.subject) +
				`,"body":` + jsonText(c.body) + `}`
			if c.kind == "webhook" {
				act = `{"type":"call-webhook","block_document_id":"` + doc["id"].(string) + `","payload":` + jsonText(c.payload) + `}`
			}
			f.actor.Act(ctx, triggered(action(t, act), ev))
			name, payload, _ := f.sink.last(t)
			want := answers[i]
			if !want.OK {
				require.Equal(t, "prefect.automation.action.failed", name, "%s: %v", c.name, payload)
				// pydantic's error quotes the block's data, secrets and all;
				// ours stops before it.
				reason, _, _ := strings.Cut(want.Error, " [type=")
				require.Equal(t, reason, payload["reason"], c.name)
				continue
			}
			require.Equal(t, "prefect.automation.action.executed", name, "%s: %v", c.name, payload)
			if c.kind == "webhook" {
				require.EqualValues(t, want.StatusCode, payload["status_code"], c.name)
			}
		}

		require.ElementsMatch(t, keys(theirs.got), keys(ours.got), "the same requests were made")
		for path, theirReq := range theirs.got {
			ourReq := ours.got[path]
			require.Equal(t, theirReq.Method, ourReq.Method, path)
			require.Equal(t, theirReq.URL.Query(), ourReq.URL.Query(), path)
			headers := []string{"Content-Type", "User-Agent", "Accept", "Authorization", "X-Token", "X-A", "Cookie"}
			if strings.HasPrefix(path, "/hook/") {
				// A Webhook block's request carries its HTTP client's own
				// User-Agent and Accept (httpx's there, Go's here).
				headers = []string{"Content-Type", "Authorization", "X-A"}
			}
			for _, h := range headers {
				require.Equal(t, theirReq.Header.Get(h), ourReq.Header.Get(h), "%s: header %s", path, h)
			}
			theirBody, ourBody := theirs.raw[path], ours.raw[path]
			switch {
			case strings.HasPrefix(theirReq.Header.Get("Content-Type"), "application/json"):
				require.Equal(t, decodeBody(t, theirBody), decodeBody(t, ourBody), path)
			default:
				require.Equal(t, string(theirBody), string(ourBody), path)
			}
		}
	})
}

func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func keys(m map[string]*http.Request) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// decodeBody reads a JSON body, without Slack's timestamp (the time it
// was sent).
func decodeBody(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	if m, ok := v.(map[string]any); ok {
		if atts, ok := m["attachments"].([]any); ok {
			for _, a := range atts {
				delete(a.(map[string]any), "ts")
			}
		}
	}
	return v
}
