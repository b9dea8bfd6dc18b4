package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

func liveLogsOn(s *settings.Settings) {
	s.Logs.StreamOutEnabled = true
	s.Logs.StreamPublishingEnabled = true
}

// logsSocket is a /logs/out client reading its frames as they come.
type logsSocket struct {
	frames chan schema.Log
	ended  chan error
}

// subscribeLogs opens apiURL's /logs/out with filter and returns once the
// server has read the filter and, when it streams, subscribed: it answers a
// ping after the filter only then.
func subscribeLogs(t *testing.T, apiURL string, filter string) *logsSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a broken run only
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(apiURL, "http")+"/logs/out",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(-1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
	_, data, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(data))
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"filter","filter":`+filter+`}`)))
	ls := &logsSocket{frames: make(chan schema.Log, 100), ended: make(chan error, 1)}
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				ls.ended <- err
				return
			}
			var frame struct {
				Type string     `json:"type"`
				Log  schema.Log `json:"log"`
			}
			if json.Unmarshal(data, &frame) != nil || frame.Type != "log" {
				ls.ended <- &json.SyntaxError{}
				return
			}
			ls.frames <- frame.Log
		}
	}()
	require.NoError(t, c.Ping(ctx))
	return ls
}

func (ls *logsSocket) next(t *testing.T) schema.Log {
	t.Helper()
	select {
	case l := <-ls.frames:
		return l
	case err := <-ls.ended:
		t.Fatalf("the logs socket ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no log on the socket")
	}
	return schema.Log{}
}

func postLogs(t *testing.T, apiURL string, logs ...map[string]any) {
	t.Helper()
	body, err := json.Marshal(logs)
	require.NoError(t, err)
	resp, err := http.Post(apiURL+"/logs", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(msg))
}

func logOf(run uuid.UUID, msg string) map[string]any {
	return map[string]any{"name": "test.live-logs", "level": 20, "message": msg,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "flow_run_id": run}
}

// Live logs flow only when both of Prefect's settings are on, and both are
// off by default, as in Prefect: without publishing, POST /logs publishes
// nothing; without stream-out, /logs/out is served (the handshake, the
// filter, pings) but subscribes to nothing.
func TestLiveLogsFollowPrefectsSettings(t *testing.T) {
	t.Parallel()
	d := settings.Defaults()
	require.False(t, d.Logs.StreamOutEnabled)
	require.False(t, d.Logs.StreamPublishingEnabled)

	forEachDatabase(t, func(t *testing.T, s settings.Settings, st store.Store) {
		serve := func(s settings.Settings) (*App, string) {
			app := New(s, st, NewLogger(io.Discard, "ERROR"))
			srv := httptest.NewServer(app.Handler)
			t.Cleanup(srv.Close)
			return app, srv.URL + "/api"
		}
		run := uuid.New()

		// Stream-out on, publishing off: the subscriber's first log is one
		// published after the POST, so the POST published nothing.
		noPublishing := s
		noPublishing.Logs.StreamOutEnabled = true
		app, url := serve(noPublishing)
		sub := subscribeLogs(t, url, `{}`)
		require.Equal(t, 1, app.logs.Subscribers())
		postLogs(t, url, logOf(run, "not published"))
		marker := schema.Log{ID: uuid.New(), Message: "marker", FlowRunID: &run}
		app.logs.Publish(t.Context(), []schema.Log{marker})
		require.Equal(t, "marker", sub.next(t).Message)

		// Publishing on, stream-out off (and the defaults): the socket is
		// held (its ping answered after the filter) and not subscribed.
		noStreaming := s
		noStreaming.Logs.StreamPublishingEnabled = true
		for _, s := range []settings.Settings{noStreaming, s} {
			app, url := serve(s)
			subscribeLogs(t, url, `{}`)
			require.Zero(t, app.logs.Subscribers())
			postLogs(t, url, logOf(run, "nobody listens"))
		}
	})
}

// Logs posted to one replica reach the live-log subscribers of the other
// (a large one too, over NOTIFY's 8000 bytes), as stored, each once.
func TestReplicasShareLiveLogs(t *testing.T) {
	dbURL := storetest.NewPostgresDatabase(t)
	a := startReplica(t, dbURL, liveLogsOn)
	b := startReplica(t, dbURL, liveLogsOn)
	run, other := uuid.New(), uuid.New()
	filter := `{"flow_run_id":{"any_":["` + run.String() + `"]}}`
	onA := subscribeLogs(t, a.http.URL+"/api", filter)
	onB := subscribeLogs(t, b.http.URL+"/api", filter)

	big := strings.Repeat("é€x", 4000)
	postLogs(t, a.http.URL+"/api", logOf(other, "not this run"), logOf(run, "small"), logOf(run, big))
	for _, want := range []string{"small", big} {
		fromA, fromB := onA.next(t), onB.next(t)
		require.Equal(t, want, fromB.Message)
		require.Equal(t, fromA, fromB, "the same log, as stored, on both replicas")
	}

	// The other way round; each replica sends it once (B does not take its
	// own notification back).
	postLogs(t, b.http.URL+"/api", logOf(run, "from B"))
	require.Equal(t, "from B", onA.next(t).Message)
	require.Equal(t, "from B", onB.next(t).Message)
	postLogs(t, a.http.URL+"/api", logOf(run, "marker"))
	require.Equal(t, "marker", onA.next(t).Message)
	require.Equal(t, "marker", onB.next(t).Message)
}
