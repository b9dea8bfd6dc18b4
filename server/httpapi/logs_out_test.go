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

// liveLogsOn turns on both of Prefect's settings the live log stream needs.
func liveLogsOn(s *settings.Settings) {
	s.Logs.StreamOutEnabled = true
	s.Logs.StreamPublishingEnabled = true
}

// logsClient is a /logs/out client whose frames are read as they come (so
// its pings are answered).
type logsClient struct {
	c      *websocket.Conn
	frames chan []byte
	ended  chan error
}

// dialLogsOut opens /logs/out, sends filter and returns once the server has
// subscribed: it answers a ping after the filter only then. The client
// reads ahead up to buffer frames.
func dialLogsOut(t *testing.T, s *testServer, filter any, buffer int) *logsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/logs/out",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(-1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(msg))
	data, err := json.Marshal(map[string]any{"type": "filter", "filter": filter})
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, websocket.MessageText, data))
	lc := &logsClient{c: c, frames: make(chan []byte, buffer), ended: make(chan error, 1)}
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				lc.ended <- err
				return
			}
			lc.frames <- data
		}
	}()
	require.NoError(t, c.Ping(ctx))
	return lc
}

func (lc *logsClient) next(t *testing.T) schema.Log {
	t.Helper()
	select {
	case data := <-lc.frames:
		var frame struct {
			Type string     `json:"type"`
			Log  schema.Log `json:"log"`
		}
		require.NoError(t, json.Unmarshal(data, &frame), "%s", data)
		require.Equal(t, "log", frame.Type)
		return frame.Log
	case err := <-lc.ended:
		require.FailNow(t, "the socket ended", "%v", err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "no log on the socket")
	}
	return schema.Log{}
}

func logLine(msg string, level int, flowRun, taskRun *uuid.UUID) map[string]any {
	return map[string]any{"name": "test.logs-out", "level": level, "message": msg,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "flow_run_id": flowRun, "task_run_id": taskRun}
}

// A subscriber is sent each log POST /logs stores after it subscribed that
// matches its filter, as stored (the ids /logs/filter reads back), in order.
func TestLogsOutStreamsStoredLogs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, liveLogsOn)
		runA, runB, task := uuid.New(), uuid.New(), uuid.New()
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/logs", []any{logLine("before", 40, &runA, nil)}))
		c := dialLogsOut(t, s, map[string]any{"flow_run_id": map[string]any{"any_": []uuid.UUID{runA}}, "level": map[string]any{"ge_": 20}}, 16)

		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/logs", []any{
			logLine("debug of A", 10, &runA, nil),
			logLine("info of A", 20, &runA, nil),
			logLine("error of B", 40, &runB, nil),
			logLine("warning of A's task", 30, &runA, &task),
		}))
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/logs", []any{logLine("last of A", 50, &runA, nil)}))

		stored := s.do(t, http.MethodPost, "/logs/filter", map[string]any{"logs": map[string]any{
			"flow_run_id": map[string]any{"any_": []uuid.UUID{runA}}, "level": map[string]any{"ge_": 20}}})
		requireStatus(t, http.StatusOK, stored)
		var want []schema.Log
		require.NoError(t, json.Unmarshal(stored.Body, &want))
		require.Len(t, want, 4, "before, info, task warning, last")
		for _, w := range want[1:] {
			require.Equal(t, w, c.next(t), "no backfill, then what was stored, in order")
		}
	})
}

// A subscriber that reads nothing holds up neither POST /logs nor the
// other subscribers.
func TestLogsOutSlowSubscriberDoesNotStall(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, liveLogsOn)
		run := uuid.New()
		filter := map[string]any{"flow_run_id": map[string]any{"any_": []uuid.UUID{run}}}
		// The slow client stops reading after one frame: the rest pile up in
		// the socket and in its queue on the server.
		dialLogsOut(t, s, filter, 1)
		fast := dialLogsOut(t, s, filter, 64)

		blob := strings.Repeat("x", 4<<10)
		const batches, size = 20, 100
		for range batches {
			batch := make([]any, size)
			for i := range batch {
				batch[i] = logLine(blob, 20, &run, nil)
			}
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/logs", batch))
		}
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/logs", []any{logLine("marker", 20, &run, nil)}))
		for range batches * size {
			require.Equal(t, blob, fast.next(t).Message)
		}
		require.Equal(t, "marker", fast.next(t).Message)
	})
}

// The filter message is checked as Prefect's LogFilter is: a key it does
// not declare closes the socket with 1002.
func TestLogsOutBadFilter(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, liveLogsOn)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/logs/out",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	defer c.CloseNow()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
	_, _, err = c.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"filter","filter":{"flow_run_id":{"any_":[],"like_":"x"}}}`)))
	_, _, err = c.Read(ctx)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseError{Code: websocket.StatusProtocolError,
		Reason: "Invalid filter: flow_run_id.like_: Extra inputs are not permitted"}, ce)
}
