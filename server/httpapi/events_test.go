package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// badEvent is an event the server must refuse, with words of the reason.
type badEvent struct {
	name   string
	event  map[string]any
	reason string
	// dropped: /events/in drops the event and keeps the socket (Prefect's
	// publisher does so for size); the others end it.
	dropped bool
}

// badEvents are events past each of Prefect's default limits: 1,500,000
// bytes, 100 related resources, 500 labels per resource.
func badEvents() []badEvent {
	tooLarge := newEvent("test.too-large")
	tooLarge["payload"] = map[string]any{"blob": strings.Repeat("x", 1_500_000)}

	tooManyRelated := newEvent("test.too-many-related")
	related := make([]any, 101)
	for i := range related {
		related[i] = map[string]string{"prefect.resource.id": "test.related." + strconv.Itoa(i), "prefect.resource.role": "thing"}
	}
	tooManyRelated["related"] = related

	tooManyLabels := newEvent("test.too-many-labels")
	labels := map[string]string{"prefect.resource.id": "test.labelled." + uuid.NewString()}
	for i := range 500 {
		labels["label."+strconv.Itoa(i)] = "v"
	}
	tooManyLabels["resource"] = labels

	return []badEvent{
		{"over 1.5 MB", tooLarge, "Event is too large", true},
		{"101 related resources", tooManyRelated, "The maximum number of related resources is 100", false},
		{"501 labels", tooManyLabels, "The maximum number of labels per resource is 500", false},
	}
}

func TestPostEvents(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		ev := newEvent("test.posted")
		ev["related"] = []any{map[string]string{"prefect.resource.id": "test.related.1", "prefect.resource.role": "thing"}}
		ev["payload"] = map[string]any{"answer": 42}
		before := time.Now().Add(-time.Second)

		r := s.do(t, http.MethodPost, "/events", []any{ev})
		requireStatus(t, http.StatusNoContent, r)
		require.Empty(t, r.Body)
		id := ev["id"].(string)
		s.waitForEvent(t, id)

		stored, err := s.Store.ReadEvents(t.Context(), store.EventFilter{Names: []string{"test.posted"}}, 10)
		require.NoError(t, err)
		require.Len(t, stored, 1)
		got := stored[0]
		require.Equal(t, id, got.ID.String())
		require.Equal(t, ev["resource"].(map[string]string)["prefect.resource.id"], got.Resource.ID())
		require.Len(t, got.Related, 1)
		require.Equal(t, "thing", got.Related[0].Role())
		require.JSONEq(t, `{"answer": 42}`, string(got.Payload))
		require.True(t, got.Received.After(before), "received is stamped by the server: %v", got.Received)

		// The same id again is accepted and not stored twice; an empty batch is fine.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/events/", []any{ev}))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/events", []any{}))
		marker := s.sendMarker(t)
		ids := []string{id, marker}
		slices.Sort(ids)
		require.Equal(t, ids, s.storedEventIDs(t))
	})
}

func TestPostEventsRejectsOversized(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		for _, bad := range badEvents() {
			t.Run(bad.name, func(t *testing.T) {
				body := requireValidationError(t, s.do(t, http.MethodPost, "/events", []any{bad.event}))
				require.Contains(t, mustJSON(t, body["exception_detail"]), bad.reason)

				// A batch is taken whole or not at all: a valid event before
				// the bad one is not stored either.
				good := newEvent("test.good-in-bad-batch")
				requireValidationError(t, s.do(t, http.MethodPost, "/events", []any{good, bad.event}))
			})
		}
		requireValidationError(t, s.do(t, http.MethodPost, "/events", `{"not": "a list"}`))
		requireValidationError(t, s.do(t, http.MethodPost, "/events", `[{"event": "no id or resource"}]`))

		marker := s.sendMarker(t)
		require.Equal(t, []string{marker}, s.storedEventIDs(t), "only the marker was stored")
	})
}

// dialEventsIn opens /api/events/in as Prefect's client does: the "prefect"
// subprotocol and an auth message answered with auth_success.
func dialEventsIn(t *testing.T, s *testServer) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/events/in",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	require.Equal(t, "prefect", res.Header.Get("Sec-WebSocket-Protocol"))
	c.SetReadLimit(-1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(msg))
	return c
}

func TestEventsWebSocketRejectsOversized(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		var accepted []string
		for _, bad := range badEvents() {
			t.Run(bad.name, func(t *testing.T) {
				c := dialEventsIn(t, s)
				ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
				defer cancel()

				// An event before the bad one is taken; an oversized one is
				// dropped and the next is taken; any other bad one ends the socket.
				good := newEvent("test.ws-good")
				require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(mustJSON(t, good))))
				accepted = append(accepted, good["id"].(string))
				require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(mustJSON(t, bad.event))))
				if bad.dropped {
					after := newEvent("test.ws-after-dropped")
					require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(mustJSON(t, after))))
					accepted = append(accepted, after["id"].(string))
					c.CloseRead(ctx) // reads the pong
					require.NoError(t, c.Ping(ctx), "the socket is still open")
					require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
					return
				}

				_, _, err := c.Read(ctx)
				require.Error(t, err)
				require.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "error: %v", err)
				var ce websocket.CloseError
				require.True(t, errors.As(err, &ce))
				require.Contains(t, ce.Reason, bad.reason)
			})
		}

		for _, id := range accepted {
			s.waitForEvent(t, id)
		}
		marker := s.sendMarker(t)
		want := append(slices.Clone(accepted), marker)
		slices.Sort(want)
		require.Equal(t, want, s.storedEventIDs(t), "no bad event was stored")
	})
}

func TestEventsWebSocketAuth(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, func(st *settings.Settings) { st.API.AuthString = "admin:secret" })
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/events/in"
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()

	// The upgrade itself passes basic auth with the header Prefect's client sends.
	header := http.Header{"Authorization": {"Basic YWRtaW46c2VjcmV0"}}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"prefect"}, HTTPHeader: header})
	require.NoError(t, err)
	defer c.CloseNow()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"wrong"}`)))
	_, _, err = c.Read(ctx)
	require.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "error: %v", err)

	c, _, err = websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"prefect"}, HTTPHeader: header})
	require.NoError(t, err)
	defer c.CloseNow()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"admin:secret"}`)))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(msg))
	ev := newEvent("test.ws-authenticated")
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(mustJSON(t, ev))))
	s.waitForEvent(t, ev["id"].(string))
}

func TestFlowRunStateChangeEmitsEvent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		run := s.createFlowRun(t)
		id := run["id"].(string)

		r := s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": "RUNNING"}})
		requireStatus(t, http.StatusCreated, r)
		runningID := stateOf(t, r.Object(t))["id"].(string)

		filter := store.EventFilter{Names: []string{"prefect.flow-run.Running"}, ResourceIDs: []string{"prefect.flow-run." + id}}
		var got []string
		eventually(t, "the prefect.flow-run.Running event", func() bool {
			evs, err := s.Store.ReadEvents(t.Context(), filter, 10)
			require.NoError(t, err)
			got = got[:0]
			for _, ev := range evs {
				got = append(got, ev.ID.String())
			}
			return len(evs) > 0
		})
		require.Equal(t, []string{runningID}, got, "one event, whose id is the state's")

		evs, err := s.Store.ReadEvents(t.Context(), filter, 10)
		require.NoError(t, err)
		ev := evs[0]
		require.Equal(t, "prefect.flow-run."+id, ev.Resource.ID())
		require.Equal(t, "RUNNING", ev.Resource["prefect.state-type"])
		require.Equal(t, "Running", ev.Resource["prefect.state-name"])
		require.NotEmpty(t, ev.Related)
		require.Equal(t, "prefect.flow."+run["flow_id"].(string), ev.Related[0].ID())
		require.Equal(t, "flow", ev.Related[0].Role())
		require.False(t, ev.Received.IsZero())

		// The run's creation (Pending) emitted its event too.
		eventually(t, "the prefect.flow-run.Pending event", func() bool {
			n, err := s.Store.CountEvents(t.Context(), store.EventFilter{Names: []string{"prefect.flow-run.Pending"},
				ResourceIDs: []string{"prefect.flow-run." + id}})
			require.NoError(t, err)
			return n == 1
		})

		// A rejected proposal writes no state and emits nothing.
		r = s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": "PENDING"}})
		requireStatus(t, http.StatusOK, r)
		require.NotEqual(t, "ACCEPT", r.Object(t)["status"])
		s.sendMarker(t)
		n, err := s.Store.CountEvents(t.Context(), store.EventFilter{ResourceIDs: []string{"prefect.flow-run." + id}})
		require.NoError(t, err)
		require.Equal(t, 2, n, "Pending and Running only")
	})
}
