package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

const taskRunsPath = "/task_runs/subscriptions/scheduled"

// dialTaskRuns opens the task workers' WebSocket as Prefect's Subscription
// does (the "prefect" subprotocol, the auth message) and sends subscribe.
func dialTaskRuns(t *testing.T, s *testServer, clientID string, keys ...string) *websocket.Conn {
	t.Helper()
	c := dialAuthed(t, s)
	send(t, c, map[string]any{"type": "subscribe", "keys": keys, "client_id": clientID})
	return c
}

func dialAuthed(t *testing.T, s *testServer) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+taskRunsPath,
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(-1)
	send(t, c, map[string]any{"type": "auth", "token": nil})
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(msg))
	return c
}

// send writes msg, as JSON unless it is a string.
func send(t *testing.T, c *websocket.Conn, msg any) {
	t.Helper()
	data, ok := msg.(string)
	if !ok {
		b, err := json.Marshal(msg)
		require.NoError(t, err)
		data = string(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(data)))
}

// receive reads the next task run sent.
func receive(t *testing.T, c *websocket.Conn) schema.TaskRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, data, err := c.Read(ctx)
	require.NoError(t, err)
	var run schema.TaskRun
	require.NoError(t, json.Unmarshal(data, &run), "%s", data)
	return run
}

// requireClosed reads until the server's close frame and checks it.
func requireClosed(t *testing.T, c *websocket.Conn, code websocket.StatusCode, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, _, err := c.Read(ctx)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, code, ce.Code, "reason %q", ce.Reason)
	require.Equal(t, reason, ce.Reason)
}

// deferred creates a background task run of key as task.delay() does.
func deferred(t *testing.T, s *testServer, key string) uuid.UUID {
	t.Helper()
	r := s.do(t, http.MethodPost, "/task_runs", map[string]any{"name": key, "task_key": key,
		"dynamic_key": key + "-" + uuid.NewString(),
		"state":       map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"deferred": true}}})
	requireStatus(t, http.StatusCreated, r)
	id, err := uuid.Parse(r.Object(t)["id"].(string))
	require.NoError(t, err)
	return id
}

// TestTaskRunSubscriptionProtocol: a client that does not subscribe as
// Prefect's protocol says is closed with 4001 and Prefect's reason, and one
// that skips the auth message with 1008.
func TestTaskRunSubscriptionProtocol(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		const (
			subscribe = "Protocol violation: expected 'subscribe' message"
			keys      = "Protocol violation: expected 'keys' in subscribe message"
			clientID  = "Protocol violation: expected 'client_id' in subscribe message"
		)
		for msg, reason := range map[string]string{
			`hello`:                          subscribe,
			`[1]`:                            subscribe,
			`{"type":"filter"}`:              subscribe,
			`{"keys":["a"],"client_id":"c"}`: subscribe,
			`{"type":"subscribe"}`:           keys,
			`{"type":"subscribe","keys":[],"client_id":"c"}`:        keys,
			`{"type":"subscribe","keys":"abc","client_id":"c"}`:     keys,
			`{"type":"subscribe","keys":[1],"client_id":"c"}`:       keys,
			`{"type":"subscribe","keys":["a"]}`:                     clientID,
			`{"type":"subscribe","keys":["a"],"client_id":""}`:      clientID,
			`{"type":"subscribe","keys":["a"],"client_id":5}`:       clientID,
			`{"type":"subscribe","keys":["a"],"client_id":null}`:    clientID,
			`{"type":"subscribe","keys":null,"client_id":"worker"}`: keys,
		} {
			c := dialAuthed(t, s)
			send(t, c, msg)
			requireClosed(t, c, 4001, reason)
		}

		// The auth message comes first.
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+taskRunsPath,
			&websocket.DialOptions{Subprotocols: []string{"prefect"}})
		require.NoError(t, err)
		send(t, c, map[string]any{"type": "subscribe", "keys": []string{"a"}, "client_id": "c"})
		requireClosed(t, c, websocket.StatusPolicyViolation, "Expected 'auth' message")

		// Without the subprotocol (and without auth on the server) the
		// client subscribes straight away, as Prefect's legacy mode allows.
		run := deferred(t, s, "legacy")
		c, _, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+taskRunsPath, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.CloseNow() })
		send(t, c, map[string]any{"type": "subscribe", "keys": []string{"legacy"}, "client_id": "old"})
		require.Equal(t, run, receive(t, c).ID)
	})
}

// TestTaskRunSubscriptionDelivers: a subscribed worker gets the queued runs
// of its keys, queued before or after it subscribed, one at a time and
// oldest first; a run it does not ack (gone, quit, or a wrong answer) goes
// to the next worker ahead of the others, and an acked one never comes back.
func TestTaskRunSubscriptionDelivers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		before := deferred(t, s, "k")
		deferred(t, s, "other") // older than the next run of k: b would get it first if keys did not count

		a := dialTaskRuns(t, s, "worker-a", "k")
		got := receive(t, a)
		require.Equal(t, before, got.ID, "queued before the worker came")
		require.Equal(t, schema.StateScheduled, got.State.Type)
		require.True(t, got.State.StateDetails.Deferred)
		require.Equal(t, "k", got.TaskKey)

		// While a holds its run unacked, another worker gets the next one.
		b := dialTaskRuns(t, s, "worker-b", "k", "extra")
		after := deferred(t, s, "k")
		require.Equal(t, after, receive(t, b).ID, "queued after the worker came")

		// Both are listed, with their keys.
		list := s.do(t, http.MethodPost, "/task_workers/filter", nil)
		requireStatus(t, http.StatusOK, list)
		var workers []schema.TaskWorker
		require.NoError(t, json.Unmarshal(list.Body, &workers))
		require.Len(t, workers, 2)
		require.Equal(t, "worker-a", workers[0].Identifier)
		require.Equal(t, []string{"k"}, workers[0].TaskKeys)
		require.Equal(t, []string{"extra", "k"}, workers[1].TaskKeys)
		require.False(t, workers[0].Timestamp.IsZero())
		only := s.do(t, http.MethodPost, "/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{"task_keys": []string{"extra", "nope"}}})
		require.NoError(t, json.Unmarshal(only.Body, &workers))
		require.Len(t, workers, 1)
		require.Equal(t, "worker-b", workers[0].Identifier)
		none := s.do(t, http.MethodPost, "/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{"task_keys": []string{"nope"}}})
		requireStatus(t, http.StatusOK, none)
		require.JSONEq(t, `[]`, string(none.Body))

		// a goes away without acking: its run goes to b, ahead of newer runs.
		newer := deferred(t, s, "k")
		require.NoError(t, a.Close(websocket.StatusNormalClosure, ""))
		eventually(t, "worker-a to leave the list (its run released)", func() bool {
			r := s.do(t, http.MethodPost, "/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{"task_keys": []string{"k"}}})
			require.NoError(t, json.Unmarshal(r.Body, &workers))
			return len(workers) == 1
		})
		send(t, b, map[string]any{"type": "ack"})
		require.Equal(t, before, receive(t, b).ID, "the run a never acked")
		send(t, b, map[string]any{"type": "ack"})
		require.Equal(t, newer, receive(t, b).ID)

		// A wrong answer closes the socket and gives the run back; so does
		// quit, with a normal close.
		send(t, b, map[string]any{"type": "thanks"})
		requireClosed(t, b, 4001, "Protocol violation: expected 'ack' message")
		c := dialTaskRuns(t, s, "worker-c", "k")
		require.Equal(t, newer, receive(t, c).ID)
		send(t, c, `not json`)
		requireClosed(t, c, 4001, "Protocol violation: expected 'ack' message")
		d := dialTaskRuns(t, s, "worker-d", "k")
		require.Equal(t, newer, receive(t, d).ID)
		send(t, d, map[string]any{"type": "quit"})
		requireClosed(t, d, websocket.StatusNormalClosure, "")

		// Acked, a run is gone: the next worker gets it once more (quit), acks
		// it, and then gets only what is queued after.
		e := dialTaskRuns(t, s, "worker-e", "k")
		require.Equal(t, newer, receive(t, e).ID)
		send(t, e, map[string]any{"type": "ack"})
		last := deferred(t, s, "k")
		require.Equal(t, last, receive(t, e).ID)
		send(t, e, map[string]any{"type": "ack"})

		// Gone workers leave the list.
		eventually(t, "the closed workers to leave the list", func() bool {
			r := s.do(t, http.MethodPost, "/task_workers/filter", map[string]any{"task_worker_filter": nil})
			require.NoError(t, json.Unmarshal(r.Body, &workers))
			return len(workers) == 1 && workers[0].Identifier == "worker-e"
		})

		// The filter's task_keys is required once a filter is sent.
		requireValidationError(t, s.do(t, http.MethodPost, "/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{}}),
			"body", "task_worker_filter", "task_keys")
		requireValidationError(t, s.do(t, http.MethodPost, "/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{"task_keys": "k"}}))
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/task_workers/filter", map[string]any{"task_worker_filter": map[string]any{"task_keys": []string{}, "other": 1}}))
	})
}

// TestTaskRunSubscriptionExactlyOnce: workers sharing a key, acking as they
// go, get every run once between them.
func TestTaskRunSubscriptionExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		const runs, workers = 40, 4
		conns := make([]*websocket.Conn, workers)
		for i := range conns {
			conns[i] = dialTaskRuns(t, s, uuid.NewString(), "shared")
		}
		want := map[uuid.UUID]bool{}
		for range runs {
			want[deferred(t, s, "shared")] = true
		}
		var mu sync.Mutex
		got := map[uuid.UUID]int{}
		total := 0
		done := make(chan struct{})
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, data, err := c.Read(ctx)
					if err != nil {
						return // closed once all runs are in, or the bound passed
					}
					var run schema.TaskRun
					if json.Unmarshal(data, &run) != nil || c.Write(ctx, websocket.MessageText, []byte(`{"type":"ack"}`)) != nil {
						return
					}
					mu.Lock()
					got[run.ID]++
					total++
					if total == runs {
						close(done)
					}
					mu.Unlock()
				}
			}()
		}
		select {
		case <-done:
		case <-ctx.Done():
		}
		for _, c := range conns {
			_ = c.Close(websocket.StatusNormalClosure, "")
		}
		wg.Wait()
		require.Len(t, got, runs)
		for id, n := range got {
			require.True(t, want[id], "a run never queued: %s", id)
			require.Equal(t, 1, n, "run %s delivered %d times", id, n)
		}
		keys, err := s.Store.QueuedTaskKeys(t.Context(), []string{"shared"})
		require.NoError(t, err)
		require.Empty(t, keys, "every run acked")
	})
}
