package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server"
	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/automations/actions"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// sink records the events the actor emits.
type sink struct {
	mu     sync.Mutex
	events []schema.Event
}

func (s *sink) Emit(_ context.Context, evs ...schema.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

// last is the payload of the last .executed or .failed event.
func (s *sink) last(t *testing.T) (string, map[string]any, schema.Event) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.GreaterOrEqual(t, len(s.events), 2)
	e := s.events[len(s.events)-1]
	require.Equal(t, "prefect.automation.action.triggered", s.events[len(s.events)-2].Event)
	var p map[string]any
	require.NoError(t, json.Unmarshal(e.Payload, &p))
	return e.Event, p, e
}

// fixture is a real server's API (not started: no background services)
// and an actor calling it.
type fixture struct {
	t     *testing.T
	api   http.Handler
	actor *actions.Actor
	sink  *sink
}

func newFixture(t *testing.T, open storetest.Opener) *fixture {
	app := server.New(settings.Defaults(), open(t), server.NewLogger(io.Discard, "ERROR"))
	sk := &sink{}
	return &fixture{t: t, api: app.Handler, sink: sk,
		actor: &actions.Actor{API: app.Handler, BasePath: "/api", Internal: httpapi.Internal, Events: sk}}
}

func (f *fixture) do(method, path string, body any) map[string]any {
	f.t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(method, "/api"+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.api.ServeHTTP(rec, req)
	require.Less(f.t, rec.Code, 300, rec.Body.String())
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return out
}

func (f *fixture) list(method, path string, body any) []any {
	f.t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(method, "/api"+path, bytes.NewReader(b))
	rec := httptest.NewRecorder()
	f.api.ServeHTTP(rec, req)
	require.Less(f.t, rec.Code, 300, rec.Body.String())
	var out []any
	require.NoError(f.t, json.Unmarshal(rec.Body.Bytes(), &out))
	return out
}

func action(t *testing.T, body string) schema.Action {
	t.Helper()
	var a schema.Action
	require.NoError(t, json.Unmarshal([]byte(body), &a))
	require.NoError(t, a.Check("action"))
	return a
}

func triggered(act schema.Action, ev *schema.Event) automations.TriggeredAction {
	a := schema.Automation{ID: uuid.New(), Name: "test", Trigger: schema.Trigger{Type: schema.TriggerEvent, Posture: schema.PostureReactive}}
	return automations.TriggeredAction{ID: uuid.New(), Automation: a, Triggered: time.Now().UTC(), Action: act,
		TriggeringEvent: ev, TriggeringLabels: map[string]string{}}
}

func eventAbout(name string, resource schema.Resource, related ...schema.Resource) *schema.Event {
	return &schema.Event{ID: uuid.New(), Occurred: time.Now().UTC(), Event: name, Resource: resource, Related: related,
		Payload: json.RawMessage(`{"n": 7, "who": "ann"}`)}
}

func TestFlowRunActions(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		flow := f.do(http.MethodPost, "/flows/", map[string]any{"name": "acted-on"})
		run := f.do(http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flow["id"], "state": map[string]any{"type": "RUNNING"}})
		ev := eventAbout("prefect.flow-run.Running", schema.Resource{"prefect.resource.id": "prefect.flow-run." + run["id"].(string)})

		// Cancel, inferred from the event: through set_state, with its status.
		f.actor.Act(ctx, triggered(action(t, `{"type":"cancel-flow-run"}`), ev))
		name, payload, e := f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		require.EqualValues(t, 201, payload["status_code"])
		require.Equal(t, "cancel-flow-run", payload["action_type"])
		require.Contains(t, e.Related, schema.Resource{"prefect.resource.id": "prefect.flow-run." + run["id"].(string), "prefect.resource.role": "target"})
		require.Contains(t, e.Related, schema.Resource{"prefect.resource.id": "prefect.event." + ev.ID.String(), "prefect.resource.role": "triggering-event"})
		got := f.do(http.MethodGet, "/flow_runs/"+run["id"].(string), nil)
		require.Equal(t, "CANCELLING", got["state_type"])

		// A state the rules refuse fails the action with their reason.
		f.actor.Act(ctx, triggered(action(t, `{"type":"change-flow-run-state","state":"PENDING"}`), ev))
		name, payload, _ = f.sink.last(t)
		require.Equal(t, "prefect.automation.action.failed", name)
		require.True(t, strings.HasPrefix(payload["reason"].(string), "Failed to set state: "), payload)

		// Forced, it is written, with the action's message.
		f.actor.Act(ctx, triggered(action(t, `{"type":"change-flow-run-state","state":"FAILED","message":"stop","force":true}`), ev))
		name, _, _ = f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name)
		got = f.do(http.MethodGet, "/flow_runs/"+run["id"].(string), nil)
		require.Equal(t, "FAILED", got["state_type"])
		require.Equal(t, "stop", got["state"].(map[string]any)["message"])

		// Nothing to infer from.
		f.actor.Act(ctx, triggered(action(t, `{"type":"cancel-flow-run"}`), eventAbout("x", schema.Resource{"prefect.resource.id": "x.1"})))
		_, payload, _ = f.sink.last(t)
		require.Equal(t, "No flow run could be inferred", payload["reason"])
	})
}

func TestRunDeploymentRendersParameters(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		flow := f.do(http.MethodPost, "/flows/", map[string]any{"name": "run-me"})
		dep := f.do(http.MethodPost, "/deployments/", map[string]any{"flow_id": flow["id"], "name": "d", "parameters": map[string]any{"keep": true}})
		ev := eventAbout("thing.happened", schema.Resource{"prefect.resource.id": "thing.1", "prefect.resource.name": "first thing"},
			schema.Resource{"prefect.resource.id": "prefect.deployment." + dep["id"].(string), "prefect.resource.role": "deployment"})
		act := action(t, `{"type":"run-deployment","source":"inferred","parameters":{
			"n":"{{ event.payload.n }}","greeting":"hi {{ event.payload.who }} from {{ event.resource.name }}",
			"nested":{"id":"{{ event.resource.id }}"},"kind":{"__prefect_kind":"jinja","template":"{{ event.event }}"}},
			"schedule_after":60}`)
		ta := triggered(act, ev)
		f.actor.Act(ctx, ta)
		name, payload, e := f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		var runID string
		for _, r := range e.Related {
			if r.Role() == "flow-run" {
				runID = strings.TrimPrefix(r.ID(), "prefect.flow-run.")
			}
		}
		run := f.do(http.MethodGet, "/flow_runs/"+runID, nil)
		require.Equal(t, map[string]any{"keep": true, "n": 7.0, "greeting": "hi ann from first thing",
			"nested": map[string]any{"id": "thing.1"}, "kind": "thing.happened"}, run["parameters"])
		require.Equal(t, "SCHEDULED", run["state_type"])
		start, err := time.Parse(time.RFC3339Nano, run["expected_start_time"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().Add(time.Minute), start, 30*time.Second)

		// The same invocation again makes no second run (its idempotency key).
		f.actor.Act(ctx, ta)
		listed := f.list(http.MethodPost, "/flow_runs/filter", map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []any{dep["id"]}}}})
		require.Len(t, listed, 1)

		// A template that does not render fails the action, as Prefect's
		// hydration error does.
		f.actor.Act(ctx, triggered(action(t, `{"type":"run-deployment","source":"selected","deployment_id":"`+dep["id"].(string)+`",
			"parameters":{"x":"{{ event.payload | nosuchfilter }}"}}`), ev))
		_, payload, _ = f.sink.last(t)
		require.Equal(t, "Unable to create flow run from deployment: InvalidJinja()", payload["reason"])
	})
}

func TestPauseAndResumeActions(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		flow := f.do(http.MethodPost, "/flows/", map[string]any{"name": "paused"})
		dep := f.do(http.MethodPost, "/deployments/", map[string]any{"flow_id": flow["id"], "name": "d"})
		pool := f.do(http.MethodPost, "/work_pools/", map[string]any{"name": "p", "type": "process"})
		queue := f.do(http.MethodGet, "/work_pools/p/queues/default", nil)
		auto := f.do(http.MethodPost, "/automations/", map[string]any{"name": "other", "trigger": map[string]any{"posture": "Reactive"},
			"actions": []any{map[string]any{"type": "do-nothing"}}})
		ev := eventAbout("x", schema.Resource{"prefect.resource.id": "prefect.work-pool." + pool["id"].(string)},
			schema.Resource{"prefect.resource.id": "prefect.work-queue." + queue["id"].(string), "prefect.resource.role": "work-queue"})

		for _, c := range []struct {
			act, read, field string
			want             any
		}{
			{`{"type":"pause-deployment","source":"selected","deployment_id":"` + dep["id"].(string) + `"}`, "/deployments/" + dep["id"].(string), "paused", true},
			{`{"type":"resume-deployment","source":"selected","deployment_id":"` + dep["id"].(string) + `"}`, "/deployments/" + dep["id"].(string), "paused", false},
			{`{"type":"pause-work-pool","source":"inferred"}`, "/work_pools/p", "is_paused", true},
			{`{"type":"pause-work-queue","source":"inferred"}`, "/work_queues/" + queue["id"].(string), "is_paused", true},
			{`{"type":"resume-work-queue","source":"selected","work_queue_id":"` + queue["id"].(string) + `"}`, "/work_queues/" + queue["id"].(string), "is_paused", false},
			{`{"type":"pause-automation","source":"selected","automation_id":"` + auto["id"].(string) + `"}`, "/automations/" + auto["id"].(string), "enabled", false},
		} {
			f.actor.Act(ctx, triggered(action(t, c.act), ev))
			name, payload, _ := f.sink.last(t)
			require.Equal(t, "prefect.automation.action.executed", name, "%s: %v", c.act, payload)
			require.Equal(t, c.want, f.do(http.MethodGet, c.read, nil)[c.field], c.act)
		}

		// A deployment that is gone: the API's status, worded as Prefect words it.
		f.actor.Act(ctx, triggered(action(t, `{"type":"pause-deployment","source":"selected","deployment_id":"`+uuid.NewString()+`"}`), ev))
		_, payload, _ := f.sink.last(t)
		require.Equal(t, "Unexpected status from 'pause-deployment' action: 404", payload["reason"])
		f.actor.Act(ctx, triggered(action(t, `{"type":"pause-deployment","source":"inferred"}`), nil))
		_, payload, _ = f.sink.last(t)
		require.Equal(t, "No event to infer the deployment", payload["reason"])
	})
}

func TestWebhooksRefusePrivateAddressesUnlessAllowed(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		var got []string
		var mu sync.Mutex
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, r.Method+" "+r.URL.RequestURI()+" "+string(b))
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
		t.Cleanup(hook.Close)
		bt := f.do(http.MethodPost, "/block_types/", map[string]any{"name": "Webhook", "slug": "webhook"})
		bs := f.do(http.MethodPost, "/block_schemas/", map[string]any{"block_type_id": bt["id"], "fields": map[string]any{"properties": map[string]any{}}, "capabilities": []string{}})
		block := func(name string, allow bool) string {
			d := f.do(http.MethodPost, "/block_documents/", map[string]any{"name": name, "block_type_id": bt["id"], "block_schema_id": bs["id"],
				"data": map[string]any{"method": "PUT", "url": hook.URL + "/in?token=s3cret", "headers": map[string]any{}, "allow_private_urls": allow}})
			return d["id"].(string)
		}
		ev := eventAbout("x", schema.Resource{"prefect.resource.id": "x.1"})

		f.actor.Act(ctx, triggered(action(t, `{"type":"call-webhook","block_document_id":"`+block("closed", false)+`","payload":"{{ event.payload.n }}"}`), ev))
		name, payload, _ := f.sink.last(t)
		require.Equal(t, "prefect.automation.action.failed", name)
		require.Contains(t, payload["reason"], "private address")
		require.NotContains(t, payload["reason"], "s3cret")
		require.Empty(t, got)

		f.actor.Act(ctx, triggered(action(t, `{"type":"call-webhook","block_document_id":"`+block("open", true)+`","payload":"n={{ event.payload.n }}"}`), ev))
		name, payload, _ = f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		require.EqualValues(t, 202, payload["status_code"])
		require.Equal(t, []string{"PUT /in?token=s3cret n=7"}, got)
	})
}
