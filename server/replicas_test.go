package server

import (
	"bytes"
	"context"
	"database/sql"
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
	"prefectgo.dev/prefectgo/server/store/backend"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// replica is one server.App over its own store connections.
type replica struct {
	app  *App
	http *httptest.Server
}

// startReplica assembles and starts an App on dbURL, as `serve` does on each
// replica of a PostgreSQL deployment, with the default settings changed by
// opts.
func startReplica(t *testing.T, dbURL string, opts ...func(*settings.Settings)) *replica {
	t.Helper()
	s := settings.Defaults()
	s.Database.ConnectionURL = dbURL
	s.Database.MigrateOnStart = true
	for _, o := range opts {
		o(&s)
	}
	ctx := context.Background()
	st, err := backend.Open(ctx, DatabaseConfig(s))
	require.NoError(t, err)
	app := New(s, st, NewLogger(io.Discard, "ERROR"))
	require.NoError(t, app.Start(ctx))
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		srv.Close()
		app.Stop()
		_ = st.Close()
	})
	require.NotNil(t, app.fanout, "PostgreSQL replicas fan events out")
	select {
	case <-app.fanout.Listening():
	case <-time.After(30 * time.Second):
		t.Fatal("the replica's event listener did not start")
	}
	return &replica{app: app, http: srv}
}

func postEvent(t *testing.T, r *replica, e map[string]any) {
	t.Helper()
	body, err := json.Marshal([]any{e})
	require.NoError(t, err)
	resp, err := http.Post(r.http.URL+"/api/events", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, string(msg))
}

func newEvent(payload map[string]any) (uuid.UUID, map[string]any) {
	id := uuid.New()
	return id, map[string]any{
		"id":       id.String(),
		"occurred": time.Now().UTC().Format(time.RFC3339Nano),
		"event":    "test.replicas.fanout",
		"resource": map[string]string{"prefect.resource.id": "test.resource." + id.String()},
		"payload":  payload,
	}
}

func waitEvent(t *testing.T, ch <-chan *schema.Event, id uuid.UUID) schema.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.ID == id {
				return *e
			}
		case <-deadline:
			t.Fatalf("event %s did not reach the other replica", id)
		}
	}
}

func countEvents(t *testing.T, dbURL string, id uuid.UUID) int {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM events WHERE id = $1", id).Scan(&n))
	return n
}

// An event sent to replica A reaches the subscribers of replica B, and is
// persisted once, by A: B relays it only to subscribers of every event, not
// to its local-only ones (its persister and task-run recorder). A large event,
// over NOTIFY's 8000-byte payload limit, crosses too.
func TestReplicasShareEvents(t *testing.T) {
	dbURL := storetest.NewPostgresDatabase(t)
	a := startReplica(t, dbURL)
	b := startReplica(t, dbURL)

	all := b.app.broker.Subscribe("test-all", 100)
	defer all.Close()
	local := b.app.broker.SubscribeLocal("test-local", 100)
	defer local.Close()

	id, e := newEvent(map[string]any{"n": 1})
	postEvent(t, a, e)
	got := waitEvent(t, all.Events(), id)
	require.Equal(t, "test.replicas.fanout", got.Event)
	require.Empty(t, local.Events(), "a relayed event is not for B's local-only subscribers")

	// Persisted exactly once, by A (the deadline only bounds the wait).
	deadline := time.Now().Add(30 * time.Second)
	for countEvents(t, dbURL, id) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, 1, countEvents(t, dbURL, id))

	// Over 8000 bytes, with multi-byte characters across the chunk cuts.
	blob := strings.Repeat("é€x", 4000)
	big, e := newEvent(map[string]any{"blob": blob})
	postEvent(t, a, e)
	got = waitEvent(t, all.Events(), big)
	var p struct{ Blob string }
	require.NoError(t, json.Unmarshal(got.Payload, &p))
	require.Equal(t, blob, p.Blob)
	require.Empty(t, local.Events())

	// And the other way round.
	subA := a.app.broker.Subscribe("test-a", 100)
	defer subA.Close()
	back, e := newEvent(nil)
	postEvent(t, b, e)
	waitEvent(t, subA.Events(), back)
}

// Exactly one replica runs the singleton services; when it stops (and its
// lock connection closes), the other takes over.
func TestReplicasElectOneLeader(t *testing.T) {
	dbURL := storetest.NewPostgresDatabase(t)
	a := startReplica(t, dbURL)
	b := startReplica(t, dbURL)

	// Poll with a deadline: it bounds the wait, it does not time the election.
	waitLeader := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			require.False(t, a.app.Leader() && b.app.Leader(), "two leaders at once")
			require.True(t, time.Now().Before(deadline), what)
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLeader("one replica becomes the leader", func() bool { return a.app.Leader() != b.app.Leader() })
	// Still exactly one after a few retry intervals of the other.
	for range 10 {
		require.True(t, a.app.Leader() != b.app.Leader(), "exactly one leader")
		time.Sleep(100 * time.Millisecond)
	}

	leader, other := a, b
	if b.app.Leader() {
		leader, other = b, a
	}
	leader.app.Stop()
	require.False(t, leader.app.Leader())
	waitLeader("the other replica takes over", other.app.Leader)
}

// A worker's channel on replica B learns at once of its pool's changes made
// through replica A: the snapshot it is sent, and the close when the pool is
// deleted, do not wait for the worker's next heartbeat (it sends none here).
func TestReplicasShareWorkPoolChanges(t *testing.T) {
	dbURL := storetest.NewPostgresDatabase(t)
	a := startReplica(t, dbURL)
	b := startReplica(t, dbURL)
	request := func(method, path, body string) {
		t.Helper()
		req, err := http.NewRequest(method, a.http.URL+"/api"+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300, string(msg))
	}
	request(http.MethodPost, "/work_pools/", `{"name":"shared-pool","type":"process"}`)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.http.URL, "http")+"/api/work_pools/shared-pool/workers/connect",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	defer c.CloseNow()
	read := func() map[string]any {
		t.Helper()
		_, data, err := c.Read(ctx)
		require.NoError(t, err)
		var f map[string]any
		require.NoError(t, json.Unmarshal(data, &f))
		return f
	}
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
	require.Equal(t, "auth_success", read()["type"])
	hello := map[string]any{"type": "worker.hello.v1", "id": uuid.NewString(), "sent_at": time.Now().UTC().Format(time.RFC3339Nano),
		"payload": map[string]any{"consumer_id": uuid.NewString(), "worker_name": "w", "worker_type": "process",
			"heartbeat_interval_seconds": 3600, "supported_channel_versions": []string{"work_pool_worker_channel.v1"},
			"requested_capabilities": []string{"worker_heartbeat.v1", "work_pool_snapshot.v1"}}}
	data, err := json.Marshal(hello)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, websocket.MessageText, data))
	require.Equal(t, "worker.ready.v1", read()["type"])

	request(http.MethodPatch, "/work_pools/shared-pool", `{"concurrency_limit":2}`)
	snap := read()
	require.Equal(t, "work_pool.snapshot.v1", snap["type"])
	payload := snap["payload"].(map[string]any)
	require.Equal(t, "work_pool_updated", payload["reason"])
	require.Equal(t, 2.0, payload["work_pool"].(map[string]any)["concurrency_limit"])

	request(http.MethodDelete, "/work_pools/shared-pool", "")
	_, _, err = c.Read(ctx)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.StatusPolicyViolation, ce.Code)
	require.Equal(t, "authorization_failed", ce.Reason)
}

// A background task run created on replica A reaches a task worker
// subscribed to replica B (B's poll finds it in the shared queue), and is
// handed to that worker alone.
func TestReplicasShareTaskRunQueue(t *testing.T) {
	dbURL := storetest.NewPostgresDatabase(t)
	a := startReplica(t, dbURL)
	b := startReplica(t, dbURL)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // bounds the waits
	defer cancel()

	dial := func(r *replica, clientID string) *websocket.Conn {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.http.URL, "http")+"/api/task_runs/subscriptions/scheduled",
			&websocket.DialOptions{Subprotocols: []string{"prefect"}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.CloseNow() })
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
		_, data, err := c.Read(ctx)
		require.NoError(t, err)
		require.JSONEq(t, `{"type":"auth_success"}`, string(data))
		require.NoError(t, c.Write(ctx, websocket.MessageText,
			[]byte(`{"type":"subscribe","keys":["replicated"],"client_id":"`+clientID+`"}`)))
		return c
	}
	worker := dial(b, "on-b")

	body := `{"name":"r","task_key":"replicated","dynamic_key":"r-1","state":{"type":"SCHEDULED","state_details":{"deferred":true}}}`
	resp, err := http.Post(a.http.URL+"/api/task_runs", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	created, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(created))
	var run schema.TaskRun
	require.NoError(t, json.Unmarshal(created, &run))

	_, data, err := worker.Read(ctx)
	require.NoError(t, err)
	var got schema.TaskRun
	require.NoError(t, json.Unmarshal(data, &got))
	require.Equal(t, run.ID, got.ID)
	require.NoError(t, worker.Write(ctx, websocket.MessageText, []byte(`{"type":"ack"}`)))

	// Each replica lists the workers subscribed to it.
	for r, want := range map[*replica]string{a: "", b: "on-b"} {
		resp, err := http.Post(r.http.URL+"/api/task_workers/filter", "application/json", nil)
		require.NoError(t, err)
		var list []schema.TaskWorker
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
		resp.Body.Close()
		var ids []string
		for _, w := range list {
			ids = append(ids, w.Identifier)
		}
		if want == "" {
			require.Empty(t, ids)
		} else {
			require.Equal(t, []string{want}, ids)
		}
	}
}
