package logstream

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// generous bounds every wait in these tests; no test expects to come near it.
const generous = 30 * time.Second

func serve(t *testing.T, cfg OutConfig) string {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(OutHandler(cfg))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// client is a /logs/out client whose messages are read as they come, so
// that its pings are answered.
type client struct {
	c     *websocket.Conn
	msgs  chan []byte
	ended chan error
	// reading is closed to let the reader start; a slow client opens it late.
	reading chan struct{}
}

func dial(t *testing.T, url string, startReading bool) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), generous)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(-1)
	cl := &client{c: c, msgs: make(chan []byte, 1<<16), ended: make(chan error, 1), reading: make(chan struct{})}
	go func() {
		<-cl.reading
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				cl.ended <- err
				return
			}
			cl.msgs <- data
		}
	}()
	if startReading {
		close(cl.reading)
	}
	return cl
}

func (cl *client) send(t *testing.T, msg string) {
	t.Helper()
	require.NoError(t, cl.c.Write(t.Context(), websocket.MessageText, []byte(msg)))
}

func (cl *client) next(t *testing.T) []byte {
	t.Helper()
	select {
	case m := <-cl.msgs:
		return m
	case err := <-cl.ended:
		require.FailNow(t, "the socket ended", "%v", err)
	case <-time.After(generous):
		require.FailNow(t, "no message")
	}
	return nil
}

func (cl *client) nextLog(t *testing.T) (schema.Log, map[string]any) {
	t.Helper()
	data := cl.next(t)
	var frame struct {
		Type string         `json:"type"`
		Log  map[string]any `json:"log"`
	}
	require.NoError(t, json.Unmarshal(data, &frame), "%s", data)
	require.Equal(t, "log", frame.Type, "%s", data)
	var l struct {
		Log schema.Log `json:"log"`
	}
	require.NoError(t, json.Unmarshal(data, &l))
	return l.Log, frame.Log
}

// requireClosed waits for the end of the socket and checks its close.
func (cl *client) requireClosed(t *testing.T, code websocket.StatusCode, reason string) {
	t.Helper()
	select {
	case err := <-cl.ended:
		var ce websocket.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, code, ce.Code, "%v", err)
		require.Equal(t, reason, ce.Reason)
	case m := <-cl.msgs:
		require.FailNow(t, "a message instead of a close", "%s", m)
	case <-time.After(generous):
		require.FailNow(t, "the socket was not closed")
	}
}

// subscribe runs the handshake and sends the filter; once the server has
// answered a ping after it, it has subscribed (it reads the socket again
// only then).
func (cl *client) subscribe(t *testing.T, filter string) {
	t.Helper()
	cl.send(t, `{"type":"auth","token":null}`)
	require.JSONEq(t, `{"type":"auth_success"}`, string(cl.next(t)))
	cl.send(t, `{"type":"filter","filter":`+filter+`}`)
	ctx, cancel := context.WithTimeout(t.Context(), generous)
	defer cancel()
	require.NoError(t, cl.c.Ping(ctx))
}

func newLog(msg string, level int, flowRun, taskRun *uuid.UUID, at time.Time) schema.Log {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return schema.Log{ID: uuid.Must(uuid.NewV7()), Created: now, Updated: now, Name: "test.logger", Level: level,
		Message: msg, Timestamp: at, FlowRunID: flowRun, TaskRunID: taskRun}
}

// A subscriber is sent the logs published after it subscribed that match
// its filter (level, timestamp, flow run, task run), in order, each once,
// as {"type":"log","log":Log}; another subscriber's filter is its own.
func TestStreamsMatchingLogsAfterSubscribing(t *testing.T) {
	t.Parallel()
	hub := NewHub()
	url := serve(t, OutConfig{Hub: hub})
	ctx := t.Context()
	runA, runB, task := uuid.New(), uuid.New(), uuid.New()
	t0 := time.Now().UTC().Truncate(time.Microsecond)

	flowLogs := dial(t, url, true)
	hub.Publish(ctx, []schema.Log{newLog("before", 40, &runA, nil, t0)}) // no backfill: never sent
	flowLogs.subscribe(t, `{"level":{"ge_":30},"flow_run_id":{"any_":["`+runA.String()+`"]},"task_run_id":{"is_null_":true},
		"timestamp":{"after_":"`+t0.Add(-time.Minute).Format(time.RFC3339Nano)+`","before_":"`+t0.Add(time.Minute).Format(time.RFC3339Nano)+`"}}`)
	taskLogs := dial(t, url, true)
	taskLogs.subscribe(t, `{"task_run_id":{"any_":["`+task.String()+`"]},"operator":"and_"}`)
	require.Equal(t, 2, hub.Subscribers())

	want := newLog("warning of A", 30, &runA, nil, t0)
	hub.Publish(ctx, []schema.Log{
		newLog("info of A", 20, &runA, nil, t0),
		want,
		newLog("error of B", 40, &runB, nil, t0),
		newLog("error of A's task", 40, &runA, &task, t0),
		newLog("error of no run", 40, nil, nil, t0),
		newLog("error of A, too early", 40, &runA, nil, t0.Add(-2*time.Minute)),
		newLog("error of A, too late", 40, &runA, nil, t0.Add(2*time.Minute)),
	})
	last := newLog("critical of A", 50, &runA, nil, t0)
	hub.Deliver(last) // as another replica's logs come

	got, raw := flowLogs.nextLog(t)
	require.Equal(t, want, got)
	require.ElementsMatch(t, []string{"id", "created", "updated", "name", "level", "message", "timestamp",
		"flow_run_id", "task_run_id", "worker_id"}, keys(raw))
	got, _ = flowLogs.nextLog(t)
	require.Equal(t, last, got, "nothing else matched in between")

	got, _ = taskLogs.nextLog(t)
	require.Equal(t, "error of A's task", got.Message)

	// What the client sends after its filter is ignored, as Prefect does.
	taskLogs.send(t, `{"type":"filter","filter":{}}`)
	taskLogs.send(t, `not even JSON`)
	again := newLog("the task again", 10, &runA, &task, t0)
	hub.Publish(ctx, []schema.Log{again})
	got, _ = taskLogs.nextLog(t)
	require.Equal(t, again, got)

	// A client that goes away is unsubscribed.
	require.NoError(t, flowLogs.c.Close(websocket.StatusNormalClosure, ""))
	require.NoError(t, taskLogs.c.Close(websocket.StatusNormalClosure, ""))
	deadline := time.Now().Add(generous)
	for hub.Subscribers() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.Zero(t, hub.Subscribers())
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A filter message that is not one, or a filter that is no LogFilter,
// closes the socket with 1002 and Prefect's reason, before any subscription.
func TestRefusesBadFilterMessages(t *testing.T) {
	t.Parallel()
	hub := NewHub()
	url := serve(t, OutConfig{Hub: hub})
	for msg, reason := range map[string]string{
		`{"type":"subscribe"}`:            "Expected 'filter' message",
		`[1,2]`:                           "Expected 'filter' message",
		`{"type":"filter"}`:               "Invalid filter: Input should be a valid dictionary or instance of LogFilter",
		`{"type":"filter","filter":null}`: "Invalid filter: Input should be a valid dictionary or instance of LogFilter",
		`{"type":"filter","filter":{"colour":"red"}}`:                        "Invalid filter: colour: Extra inputs are not permitted",
		`{"type":"filter","filter":{"level":{"gt_":20}}}`:                    "Invalid filter: level.gt_: Extra inputs are not permitted",
		`{"type":"filter","filter":{"level":{"ge_":"x"}}}`:                   "",
		`{"type":"filter","filter":{"timestamp":{"after_":"soon"}}}`:         "",
		`{"type":"filter","filter":{"flow_run_id":{"any_":["not-a-uuid"]}}}`: "",
	} {
		cl := dial(t, url, true)
		cl.send(t, `{"type":"auth","token":null}`)
		require.JSONEq(t, `{"type":"auth_success"}`, string(cl.next(t)))
		cl.send(t, msg)
		select {
		case err := <-cl.ended:
			var ce websocket.CloseError
			require.ErrorAs(t, err, &ce, msg)
			require.Equal(t, websocket.StatusProtocolError, ce.Code, msg)
			if reason != "" {
				require.Equal(t, reason, ce.Reason, msg)
			} else {
				require.True(t, strings.HasPrefix(ce.Reason, "Invalid filter: "), "%s: %s", msg, ce.Reason)
			}
		case <-time.After(generous):
			require.FailNow(t, "not closed", msg)
		}
	}
	require.Zero(t, hub.Subscribers())

	// The handshake comes first, as on every Prefect socket.
	cl := dial(t, url, true)
	cl.send(t, `{"type":"filter","filter":{}}`)
	cl.requireClosed(t, websocket.StatusPolicyViolation, "Expected 'auth' message")
}

// A subscriber that reads nothing never holds up publishing: once it is
// BufferBytes behind, it is cut off with 1013 after what it was sent.
func TestSlowSubscriberIsCutOff(t *testing.T) {
	t.Parallel()
	hub := NewHub()
	url := serve(t, OutConfig{Hub: hub, BufferBytes: 64 << 10})
	// The client reads its auth_success itself, then nothing until the
	// flood is published.
	stalled := dial(t, url, false)
	stalled.send(t, `{"type":"auth","token":null}`)
	ctx, cancel := context.WithTimeout(t.Context(), generous)
	defer cancel()
	_, data, err := stalled.c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(data))
	stalled.send(t, `{"type":"filter","filter":{}}`)
	deadline := time.Now().Add(generous)
	for hub.Subscribers() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, 1, hub.Subscribers())

	// Far more than the socket buffers between the two take: published at
	// once, without waiting for anyone.
	blob := strings.Repeat("x", 4<<10)
	for range 16 {
		batch := make([]schema.Log, 256)
		for i := range batch {
			batch[i] = newLog(blob, 20, nil, nil, time.Now().UTC())
		}
		hub.Publish(t.Context(), batch)
	}
	close(stalled.reading)
	n := 0
	for {
		select {
		case <-stalled.msgs:
			n++
			continue
		case err := <-stalled.ended:
			var ce websocket.CloseError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, websocket.CloseError{Code: websocket.StatusTryAgainLater,
				Reason: "subscriber fell too far behind the log stream"}, ce)
		case <-time.After(generous):
			require.FailNow(t, "the stalled subscriber was not cut off")
		}
		break
	}
	require.Less(t, n, 16*256, "cut off before everything was sent")
}
