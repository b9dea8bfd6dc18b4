package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// workerSocket is a worker's end of the worker channel, speaking the
// protocol as Prefect 3.9.1's worker does.
type workerSocket struct {
	c        *websocket.Conn
	consumer string
	worker   string
}

// dialWorker opens the pool's worker channel and passes the auth exchange
// with token (nil sends none).
func dialWorker(t *testing.T, s *testServer, pool string, token *string) *workerSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/work_pools/"+pool+"/workers/connect",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	require.Equal(t, "prefect", res.Header.Get("Sec-WebSocket-Protocol"))
	c.SetReadLimit(-1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(mustJSON(t, map[string]any{"type": "auth", "token": token}))))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(msg))
	return &workerSocket{c: c, consumer: uuid.NewString(), worker: "worker-" + uuid.NewString()[:8]}
}

// frame is a protocol frame of type typ.
func frame(typ string, payload map[string]any) map[string]any {
	return map[string]any{"type": typ, "id": uuid.NewString(), "sent_at": time.Now().UTC().Format(time.RFC3339Nano), "payload": payload}
}

// hello is the worker's hello as the 3.9.1 client sends it, changed by extra.
func (w *workerSocket) hello(extra map[string]any) map[string]any {
	p := map[string]any{
		"consumer_id": w.consumer, "worker_name": w.worker, "worker_type": "process",
		"heartbeat_interval_seconds": 30,
		"supported_channel_versions": []string{"work_pool_worker_channel.v1"},
		"requested_capabilities":     []string{"worker_heartbeat.v1", "work_pool_snapshot.v1"},
		"work_queue_names":           []string{}, "handled_cleanup_kinds": []string{}, "max_cleanup_concurrency": 0,
		"create_pool_if_not_found": false, "default_base_job_template": map[string]any{}, "worker_metadata": nil,
	}
	for k, v := range extra {
		p[k] = v
	}
	return frame("worker.hello.v1", p)
}

func (w *workerSocket) heartbeat(interval int) map[string]any {
	return frame("worker.heartbeat.v1", map[string]any{"consumer_id": w.consumer, "worker_name": w.worker, "heartbeat_interval_seconds": interval})
}

// send writes v as JSON, or as is when it is a string.
func (w *workerSocket) send(t *testing.T, v any) {
	t.Helper()
	data, ok := v.(string)
	if !ok {
		data = mustJSON(t, v)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, w.c.Write(ctx, websocket.MessageText, []byte(data)))
}

// next reads the next frame, which must be of type typ, and returns its payload.
func (w *workerSocket) next(t *testing.T, typ string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, data, err := w.c.Read(ctx)
	require.NoError(t, err)
	var f map[string]any
	require.NoError(t, json.Unmarshal(data, &f))
	require.Equal(t, typ, f["type"], "frame: %s", data)
	_, err = uuid.Parse(f["id"].(string))
	require.NoError(t, err, "frame id: %s", data)
	_, err = time.Parse(time.RFC3339Nano, f["sent_at"].(string))
	require.NoError(t, err, "frame sent_at: %s", data)
	return f["payload"].(map[string]any)
}

// ready sends the hello and returns the ready frame's payload.
func (w *workerSocket) ready(t *testing.T, extra map[string]any) map[string]any {
	t.Helper()
	w.send(t, w.hello(extra))
	return w.next(t, "worker.ready.v1")
}

// closed reads until the server closes, with code and reason.
func (w *workerSocket) closed(t *testing.T, code websocket.StatusCode, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, data, err := w.c.Read(ctx)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce, "read %s", data)
	require.Equal(t, code, ce.Code, "close: %v", ce)
	require.Equal(t, reason, ce.Reason)
}

// sync sends a cleanup operation and waits for its answer: the server reads
// frames in order, so every frame sent before it has been handled.
func (w *workerSocket) sync(t *testing.T) {
	t.Helper()
	ack := frame("cleanup.ack.v1", map[string]any{"message_id": uuid.NewString(), "reservation_token": "token"})
	w.send(t, ack)
	got := w.next(t, "cleanup.operation_result.v1")
	require.Equal(t, map[string]any{"request_frame_id": ack["id"], "message_id": ack["payload"].(map[string]any)["message_id"],
		"operation": "ack", "status": "unauthorized", "reason": "cleanup_delivery_not_accepted", "lease_expires_at": nil, "detail": nil}, got)
}

func (s *testServer) workersOf(t *testing.T, pool string) []any {
	t.Helper()
	r := s.do(t, http.MethodPost, "/work_pools/"+pool+"/workers/filter", map[string]any{})
	requireStatus(t, http.StatusOK, r)
	return r.List(t)
}

func TestWorkerChannelReady(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		s.createPool(t, "wc-pool", map[string]any{"base_job_template": processTemplate})
		r := s.do(t, http.MethodPost, "/work_pools/wc-pool/queues", map[string]any{"name": "second"})
		requireStatus(t, http.StatusCreated, r)
		second := r.Object(t)["id"]

		w := dialWorker(t, s, "wc-pool", nil)
		ready := w.ready(t, map[string]any{
			"heartbeat_interval_seconds": 17,
			"work_queue_names":           []string{"second", "default", "second"},
			// Cleanup delivery is declined, and so is what is not known.
			"requested_capabilities":  []string{"worker_heartbeat.v1", "work_pool_snapshot.v1", "cleanup_delivery.v1", "other.v1"},
			"handled_cleanup_kinds":   []string{"cancelling_timeout_teardown.v1"},
			"max_cleanup_concurrency": 2,
			"worker_metadata":         map[string]any{"integrations": []any{}},
		})
		pool := s.do(t, http.MethodGet, "/work_pools/wc-pool", nil).Object(t)
		require.Equal(t, "READY", pool["status"], "the hello's heartbeat readies the pool")
		defaultQueue := pool["default_queue_id"]
		require.Equal(t, map[string]any{
			"consumer_id": w.consumer, "worker_id": nil,
			"selected_channel_version":             "work_pool_worker_channel.v1",
			"effective_heartbeat_interval_seconds": 17.0,
			"accepted_capabilities":                []any{"worker_heartbeat.v1", "work_pool_snapshot.v1"},
			"rejected_capabilities":                []any{"cleanup_delivery.v1", "other.v1"},
			"effective_max_cleanup_concurrency":    0.0,
			"resolved_work_queues": []any{
				map[string]any{"id": second, "name": "second"}, map[string]any{"id": defaultQueue, "name": "default"}},
			"initial_snapshot": map[string]any{"snapshot_sequence": 1.0, "reason": "initial", "work_pool": pool},
		}, ready)

		// The hello registered the worker as a REST heartbeat does.
		workers := s.workersOf(t, "wc-pool")
		require.Len(t, workers, 1)
		wk := workers[0].(map[string]any)
		require.Equal(t, w.worker, wk["name"])
		require.Equal(t, "ONLINE", wk["status"])
		require.Equal(t, 17.0, wk["heartbeat_interval_seconds"])

		// Without queue names, the worker is on every queue of the pool.
		w2 := dialWorker(t, s, "wc-pool", nil)
		ready = w2.ready(t, nil)
		require.ElementsMatch(t, []any{map[string]any{"id": second, "name": "second"}, map[string]any{"id": defaultQueue, "name": "default"}},
			ready["resolved_work_queues"])
	})
}

func TestWorkerChannelCreatesPool(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)

		// Asked to, the hello creates the pool with the worker's type and template.
		w := dialWorker(t, s, "wc-new", nil)
		ready := w.ready(t, map[string]any{"create_pool_if_not_found": true, "default_base_job_template": processTemplate})
		pool := s.do(t, http.MethodGet, "/work_pools/wc-new", nil).Object(t)
		require.Equal(t, "process", pool["type"])
		require.Equal(t, mustJSON(t, processTemplate), mustJSON(t, pool["base_job_template"]))
		require.Equal(t, pool, ready["initial_snapshot"].(map[string]any)["work_pool"])
		require.Equal(t, []any{map[string]any{"id": pool["default_queue_id"], "name": "default"}}, ready["resolved_work_queues"])

		// A pool without a template takes the worker's, and the workers on it
		// are sent the change.
		s.createPool(t, "wc-bare")
		first := dialWorker(t, s, "wc-bare", nil)
		require.Equal(t, map[string]any{}, first.ready(t, nil)["initial_snapshot"].(map[string]any)["work_pool"].(map[string]any)["base_job_template"])
		w = dialWorker(t, s, "wc-bare", nil)
		snap := w.ready(t, map[string]any{"default_base_job_template": processTemplate})["initial_snapshot"].(map[string]any)
		require.Equal(t, mustJSON(t, processTemplate), mustJSON(t, snap["work_pool"].(map[string]any)["base_job_template"]))
		for _, ws := range []*workerSocket{first, w} {
			update := ws.next(t, "work_pool.snapshot.v1")
			require.Equal(t, 2.0, update["snapshot_sequence"])
			require.Equal(t, "work_pool_updated", update["reason"])
			require.Equal(t, mustJSON(t, processTemplate), mustJSON(t, update["work_pool"].(map[string]any)["base_job_template"]))
		}

		// Not asked to, or with a reserved name, it creates nothing.
		w = dialWorker(t, s, "wc-missing", nil)
		w.send(t, w.hello(nil))
		w.closed(t, websocket.StatusPolicyViolation, "authorization_failed")
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/work_pools/wc-missing", nil))
		w = dialWorker(t, s, "prefect-reserved", nil)
		w.send(t, w.hello(map[string]any{"create_pool_if_not_found": true}))
		w.closed(t, websocket.StatusPolicyViolation, "authorization_failed")
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/work_pools/prefect-reserved", nil))
	})
}

func TestWorkerChannelSetupErrors(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		s.createPool(t, "wc-errors")
		w := &workerSocket{consumer: uuid.NewString(), worker: "w"}
		withPayload := func(k string, v any) any {
			f := w.hello(nil)
			f["payload"].(map[string]any)[k] = v
			return f
		}
		badTemplate := map[string]any{"job_configuration": map[string]any{"x": "{{ nope }}"}, "variables": map[string]any{"properties": map[string]any{}}}
		for _, tc := range []struct {
			name   string
			pool   string
			frame  any
			code   websocket.StatusCode
			reason string
		}{
			{"not JSON", "wc-errors", "hello", websocket.StatusProtocolError, "protocol_error"},
			{"not a frame", "wc-errors", `{"type":"worker.hello.v1"}`, websocket.StatusProtocolError, "protocol_error"},
			{"a heartbeat first", "wc-errors", w.heartbeat(30), websocket.StatusProtocolError, "protocol_error"},
			{"an unknown key", "wc-errors", withPayload("extra", 1), websocket.StatusProtocolError, "protocol_error"},
			{"no worker name", "wc-errors", withPayload("worker_name", ""), websocket.StatusProtocolError, "protocol_error"},
			{"no heartbeat interval", "wc-errors", withPayload("heartbeat_interval_seconds", 0), websocket.StatusProtocolError, "protocol_error"},
			{"a required capability missing", "wc-errors", withPayload("requested_capabilities", []string{"worker_heartbeat.v1"}),
				websocket.StatusProtocolError, "protocol_error"},
			{"cleanup kinds without cleanup delivery", "wc-errors",
				withPayload("handled_cleanup_kinds", []string{"cancelling_timeout_teardown.v1"}), websocket.StatusProtocolError, "protocol_error"},
			{"another version", "wc-errors", withPayload("supported_channel_versions", []string{"work_pool_worker_channel.v2"}),
				websocket.StatusPolicyViolation, "unsupported_version"},
			{"an unknown queue", "wc-errors", withPayload("work_queue_names", []string{"nope"}), websocket.StatusPolicyViolation, "authorization_failed"},
			// Prefect fails creating the pool with its models' validation: a server error.
			{"an invalid template for a new pool", "wc-errors-new", func() any {
				f := w.hello(map[string]any{"create_pool_if_not_found": true, "default_base_job_template": badTemplate})
				return f
			}(), websocket.StatusInternalError, "transient_server_error"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ws := dialWorker(t, s, tc.pool, nil)
				ws.send(t, tc.frame)
				ws.closed(t, tc.code, tc.reason)
			})
		}
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/work_pools/wc-errors-new", nil))
		require.Empty(t, s.workersOf(t, "wc-errors"), "no failed hello registered a worker")

		// Without the subprotocol there is no upgrade.
		_, res, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(s.URL, "http")+"/work_pools/wc-errors/workers/connect", nil)
		require.Error(t, err)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
	})
}

func TestWorkerChannelHeartbeats(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		s.createPool(t, "wc-beats")
		w := dialWorker(t, s, "wc-beats", nil)
		w.ready(t, nil)
		before := s.workersOf(t, "wc-beats")[0].(map[string]any)
		require.Equal(t, 30.0, before["heartbeat_interval_seconds"])

		// A heartbeat over the channel refreshes the worker as a REST one does.
		w.send(t, w.heartbeat(9))
		w.sync(t)
		after := s.workersOf(t, "wc-beats")
		require.Len(t, after, 1)
		beat := after[0].(map[string]any)
		require.Equal(t, 9.0, beat["heartbeat_interval_seconds"])
		require.Equal(t, "ONLINE", beat["status"])
		t0, err := time.Parse(time.RFC3339Nano, before["last_heartbeat_time"].(string))
		require.NoError(t, err)
		t1, err := time.Parse(time.RFC3339Nano, beat["last_heartbeat_time"].(string))
		require.NoError(t, err)
		require.False(t, t1.Before(t0), "%s then %s", t0, t1)

		// A malformed cleanup operation, or a heartbeat of another worker, ends the channel.
		w.send(t, frame("cleanup.renew.v1", map[string]any{"message_id": uuid.NewString(), "reservation_token": "t", "reason": "r"}))
		w.closed(t, websocket.StatusProtocolError, "protocol_error")
		w = dialWorker(t, s, "wc-beats", nil)
		w.ready(t, nil)
		other := w.heartbeat(30)
		other["payload"].(map[string]any)["consumer_id"] = uuid.NewString()
		w.send(t, other)
		w.closed(t, websocket.StatusProtocolError, "protocol_error")
	})
}

func TestWorkerChannelSnapshots(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		s.createPool(t, "wc-snap", map[string]any{"base_job_template": processTemplate})
		s.createPool(t, "wc-other")
		w := dialWorker(t, s, "wc-snap", nil)
		w.ready(t, nil)
		patch := func(path string, body map[string]any) {
			t.Helper()
			requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, path, body))
		}

		// Neither the description, a queue nor another pool is in the
		// snapshot: the first one sent is for the concurrency limit.
		patch("/work_pools/wc-snap", map[string]any{"description": "described"})
		patch("/work_pools/wc-snap/queues/default", map[string]any{"description": "a queue"})
		patch("/work_pools/wc-other", map[string]any{"concurrency_limit": 1})
		patch("/work_pools/wc-snap", map[string]any{"concurrency_limit": 3})
		snap := w.next(t, "work_pool.snapshot.v1")
		require.Equal(t, 2.0, snap["snapshot_sequence"])
		require.Equal(t, "work_pool_updated", snap["reason"])
		pool := snap["work_pool"].(map[string]any)
		require.Equal(t, 3.0, pool["concurrency_limit"])
		require.Equal(t, 0.0, pool["active_slots"])
		require.Equal(t, "described", pool["description"])

		patch("/work_pools/wc-snap", map[string]any{"is_paused": true})
		snap = w.next(t, "work_pool.snapshot.v1")
		require.Equal(t, 3.0, snap["snapshot_sequence"])
		pool = snap["work_pool"].(map[string]any)
		require.Equal(t, true, pool["is_paused"])
		require.Equal(t, "PAUSED", pool["status"])

		// A change no one announces (a writer other than the API) is found
		// at the next heartbeat.
		require.NoError(t, s.Store.UpdateWorkPool(t.Context(), "wc-snap", schema.WorkPoolUpdate{IsPaused: schema.Some(false)}))
		w.send(t, w.heartbeat(30))
		snap = w.next(t, "work_pool.snapshot.v1")
		require.Equal(t, 4.0, snap["snapshot_sequence"])
		require.Equal(t, "heartbeat_reconciliation", snap["reason"])
		require.Equal(t, false, snap["work_pool"].(map[string]any)["is_paused"])

		// Deleting the pool ends the channel.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/work_pools/wc-snap", nil))
		w.closed(t, websocket.StatusPolicyViolation, "authorization_failed")
	})
}

func TestWorkerChannelAuth(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(st *settings.Settings) { st.API.AuthString = "admin:secret" })
		header := http.Header{"Authorization": {"Basic YWRtaW46c2VjcmV0"}}
		r := s.do(t, http.MethodPost, "/work_pools/", map[string]any{"name": "wc-auth", "type": "process"}, "Authorization", header.Get("Authorization"))
		requireStatus(t, http.StatusCreated, r)

		token := "admin:secret"
		w := dialWorker(t, s, "wc-auth", &token)
		require.Equal(t, "wc-auth", w.ready(t, nil)["initial_snapshot"].(map[string]any)["work_pool"].(map[string]any)["name"])

		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		for _, auth := range []string{`{"type":"auth"}`, `{"type":"auth","token":"admin:wrong"}`, `{"type":"hello"}`} {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/work_pools/wc-auth/workers/connect",
				&websocket.DialOptions{Subprotocols: []string{"prefect"}})
			require.NoError(t, err)
			require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(auth)))
			ws := &workerSocket{c: c}
			ws.closed(t, websocket.StatusPolicyViolation, "authentication_failed")
			_ = c.CloseNow()
		}
	})
}
