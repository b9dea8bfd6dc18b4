package events

import (
	"context"
	"encoding/json"
	"net/http"
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

// fastPings makes a silent client noticed within a fraction of a second.
var fastPings = SocketConfig{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}

// serveWS serves h and reports each return of its ServeHTTP on ended.
func serveWS(t *testing.T, h http.Handler) (url string, ended <-chan struct{}) {
	t.Helper()
	done := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		done <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), done
}

func waitEnded(t *testing.T, ended <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ended:
	case <-time.After(generous):
		require.FailNow(t, what)
	}
}

// waitFor polls cond until it holds, failing after the generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), generous)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			require.FailNow(t, "timed out waiting: "+what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// dialSilent opens a socket and never reads from it, so it answers no ping.
func dialSilent(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func newInHandler(cfg InConfig, limits Limits) (http.Handler, *Subscription) {
	b := NewBroker()
	sub := b.Subscribe("test", 100)
	cfg.Ingestor = NewIngestor(IngestConfig{Publisher: b, Limits: limits, Logger: discardLogger()})
	cfg.Logger = discardLogger()
	return InHandler(cfg), sub
}

func TestInClosesClientThatAnswersNoPing(t *testing.T) {
	t.Parallel()
	h, _ := newInHandler(InConfig{Socket: fastPings}, Limits{})
	url, ended := serveWS(t, h)
	c := dialSilent(t, url)
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, mustJSON(t, eventJSON())))
	waitEnded(t, ended, "the server kept a socket that answers no ping")
	requirePingTimeoutClose(t, c)
}

func TestOutClosesClientThatAnswersNoPing(t *testing.T) {
	t.Parallel()
	url, ended := serveWS(t, OutHandler(OutConfig{Subscriber: NewBroker(), Socket: fastPings, Logger: discardLogger()}))
	c := dialSilent(t, url)
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"type":"filter","filter":{}}`)))
	waitEnded(t, ended, "the server kept a socket that answers no ping")
	requirePingTimeoutClose(t, c)
}

// requirePingTimeoutClose reads what the server sent last: uvicorn's
// keep-alive close, 1011 "keepalive ping timeout".
func requirePingTimeoutClose(t *testing.T, c *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), generous)
	defer cancel()
	_, _, err := c.Read(ctx)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseError{Code: websocket.StatusInternalError, Reason: "keepalive ping timeout"}, ce)
}

// halfEvent splits an event with a payload of size bytes in two: head ends
// inside the payload, tail is the rest.
func halfEvent(t *testing.T, size int) (head, tail []byte) {
	t.Helper()
	ev := eventJSON()
	ev["payload"] = map[string]any{"big": "BIG"}
	before, after, ok := strings.Cut(string(mustJSON(t, ev)), "BIG")
	require.True(t, ok)
	return []byte(before + strings.Repeat("x", size)), []byte(after)
}

// A client that starts a large message and stops sending it, while still
// answering pings, is cut off one keep-alive cycle after the message began,
// and what the message held is given back.
func TestInDropsHalfSentMessage(t *testing.T) {
	t.Parallel()
	budget := NewBudget(64 << 20)
	sock := SocketConfig{PingInterval: 50 * time.Millisecond, PingTimeout: time.Second, Budget: budget}
	h, sub := newInHandler(InConfig{Socket: sock}, Limits{MaxSizeBytes: 4 << 20})
	url, ended := serveWS(t, h)
	c := dialWS(t, url, false) // reads, so it answers pings

	w, err := c.Writer(t.Context(), websocket.MessageText)
	require.NoError(t, err)
	head, _ := halfEvent(t, 1<<20)
	_, err = w.Write(head) // one frame, not the last
	require.NoError(t, err)
	waitFor(t, "the server to read the first frame", func() bool { return budget.Stats().InUse >= 900<<10 })

	select {
	case err := <-c.ended:
		require.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%v", err)
	case <-time.After(generous):
		require.FailNow(t, "the half-sent message kept its socket open")
	}
	waitEnded(t, ended, "the handler did not end")
	require.Zero(t, budget.Stats().InUse, "the half-sent message's bytes were given back")
	requireNothing(t, sub)
}

// N clients cannot hold N times the largest message: past the shared budget
// a socket is closed with 1013, while small events still pass.
func TestInBudgetSharedAcrossSockets(t *testing.T) {
	t.Parallel()
	budget := NewBudget(1 << 20)
	h, sub := newInHandler(InConfig{Socket: SocketConfig{Budget: budget}}, Limits{MaxSizeBytes: 4 << 20})
	url, _ := serveWS(t, h)

	// A holds most of the budget with a message it has not finished.
	a := dialWS(t, url, false)
	w, err := a.Writer(t.Context(), websocket.MessageText)
	require.NoError(t, err)
	head, tail := halfEvent(t, 900<<10)
	_, err = w.Write(head)
	require.NoError(t, err)
	waitFor(t, "A's frame to be read", func() bool { return budget.Stats().InUse >= 860<<10 })

	// B's large event does not fit: refused, not buffered.
	b := dialWS(t, url, false)
	big := eventJSON()
	big["payload"] = map[string]any{"big": strings.Repeat("y", 300<<10)}
	b.send(t, mustJSON(t, big))
	b.requireClosed(t, websocket.StatusTryAgainLater, "server busy: too many message bytes in flight; try again later")

	// C's ordinary event needs no budget.
	c := dialWS(t, url, false)
	small := eventJSON()
	c.send(t, mustJSON(t, small))
	require.Equal(t, small["id"], receiveN(t, sub, 1)[0].ID.String())

	// A finishes; its event is published and its bytes are given back.
	_, err = w.Write(tail)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	receiveN(t, sub, 1)
	waitFor(t, "A's bytes to be given back", func() bool { return budget.Stats().InUse == 0 })

	// Now B's event fits.
	b2 := dialWS(t, url, false)
	b2.send(t, mustJSON(t, big))
	require.Equal(t, big["id"], receiveN(t, sub, 1)[0].ID.String())
	waitFor(t, "B's bytes to be given back", func() bool { return budget.Stats().InUse == 0 })

	st := budget.Stats()
	require.LessOrEqual(t, st.Peak, st.Limit)
	require.Positive(t, st.Refused)
	requireNothing(t, sub)
}

// Prefect's client sends its filter as one message; uvicorn reads up to
// 16 MiB, so a filter over the library's 32 KiB default must be accepted.
func TestOutAcceptsLargeFilter(t *testing.T) {
	t.Parallel()
	broker := NewBroker()
	url, _ := serveWS(t, OutHandler(OutConfig{Subscriber: broker, Logger: discardLogger()}))
	ctx, cancel := context.WithTimeout(t.Context(), generous)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })

	names := []string{"wanted.event"}
	for len(strings.Join(names, `","`)) < 100<<10 {
		names = append(names, "unwanted.event."+uuid.NewString())
	}
	filter := mustJSON(t, map[string]any{"type": "filter", "backfill": false, "filter": map[string]any{
		"event":    map[string]any{"name": names},
		"occurred": map[string]any{"until": time.Now().AddDate(1, 0, 0)},
	}})
	require.Greater(t, len(filter), 100<<10)
	require.NoError(t, c.Write(ctx, websocket.MessageText, filter))

	got := make(chan schema.Event, 1)
	go func() {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Errorf("reading the stream: %v", err)
			close(got)
			return
		}
		var msg struct {
			Event schema.Event `json:"event"`
		}
		_ = json.Unmarshal(data, &msg)
		got <- msg.Event
	}()
	// The subscription starts once the filter is read: publish until one arrives.
	for {
		now := time.Now().UTC()
		require.NoError(t, broker.Publish(ctx,
			schema.Event{ID: uuid.New(), Event: "other.event", Occurred: now},
			schema.Event{ID: uuid.New(), Event: "wanted.event", Occurred: now}))
		select {
		case e, ok := <-got:
			require.True(t, ok)
			require.Equal(t, "wanted.event", e.Event)
			return
		case <-ctx.Done():
			require.FailNow(t, "no event on the stream")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// noEvents is a store that holds no event yet: the persister has not
// written what was published.
type noEvents struct{}

func (noEvents) QueryEvents(context.Context, schema.EventFilter, int, int) ([]schema.Event, error) {
	return nil, nil
}

// An event published a moment before a client subscribes, and not yet
// written by the persister, is in the client's backfill; without backfill
// it is not sent.
func TestOutBackfillsEventsNotYetStored(t *testing.T) {
	t.Parallel()
	broker := NewBroker()
	url, _ := serveWS(t, OutHandler(OutConfig{Subscriber: broker, Store: noEvents{}, MaxBackfill: time.Hour, Logger: discardLogger()}))
	now := time.Now().UTC()
	before := schema.Event{ID: uuid.New(), Event: "wanted.event", Occurred: now}
	require.NoError(t, broker.Publish(t.Context(),
		schema.Event{ID: uuid.New(), Event: "wanted.event", Occurred: now.Add(-2 * time.Hour)}, // before the backfill's reach
		schema.Event{ID: uuid.New(), Event: "other.event", Occurred: now},
		before))

	for _, backfill := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(t.Context(), generous)
		defer cancel()
		c, _, err := websocket.Dial(ctx, url, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.CloseNow() })
		require.NoError(t, c.Write(ctx, websocket.MessageText, mustJSON(t, map[string]any{"type": "filter", "backfill": backfill,
			"filter": map[string]any{"event": map[string]any{"name": []string{"wanted.event"}},
				"occurred": map[string]any{"since": now.Add(-time.Hour), "until": now.AddDate(1, 0, 0)}}})))
		got := make(chan uuid.UUID, 1)
		go func() {
			_, data, err := c.Read(ctx)
			if err != nil {
				close(got)
				return
			}
			var msg struct {
				Event schema.Event `json:"event"`
			}
			_ = json.Unmarshal(data, &msg)
			got <- msg.Event.ID
		}()
		if backfill {
			require.Equal(t, before.ID, <-got)
			continue
		}
		// The subscription starts once the filter is read: publish until
		// one arrives, which must be live.
		var live []uuid.UUID
		for first := uuid.Nil; first == uuid.Nil; {
			e := schema.Event{ID: uuid.New(), Event: "wanted.event", Occurred: time.Now().UTC()}
			live = append(live, e.ID)
			require.NoError(t, broker.Publish(ctx, e))
			select {
			case first = <-got:
				require.Contains(t, live, first)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
