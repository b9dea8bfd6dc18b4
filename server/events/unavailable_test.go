package events

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store"
)

var errDiskFull = &store.UnavailableError{Reason: "the database's disk is full", Err: fmt.Errorf("database or disk is full (13)")}

// While the store is unavailable the persister keeps its batch and retries
// past MaxAttempts, and says why meanwhile; the first successful write
// writes the batch and clears the error.
func TestPersisterRetriesWhileStoreUnavailable(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	st := &recordingStore{failing: 6, err: errDiskFull}
	logger, logs := bufferLogger()
	p := NewPersister(b, st, PersisterConfig{MaxAttempts: 2, Backoff: time.Millisecond}, logger)
	require.NoError(t, p.Start(t.Context()))
	defer p.Stop()
	require.NoError(t, p.Err())

	evs := testEvents(1)
	require.NoError(t, b.Publish(t.Context(), evs...))
	require.Eventually(t, func() bool { return p.Err() != nil }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, p.Err(), store.ErrUnavailable)
	require.Eventually(t, func() bool { return len(st.allEvents()) == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, evs, st.allEvents())
	require.NoError(t, p.Err())
	require.NotContains(t, logs.String(), "dropping events")
	require.Contains(t, logs.String(), "attempt=6")
	require.Contains(t, logs.String(), "writes succeed again")
}

// POST /events: while events cannot be stored the batch is refused with the
// store's reason (a 503), and nothing is published.
func TestIngestRefusedWhileEventsCannotBeStored(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	var storing atomic.Pointer[error]
	in := NewIngestor(IngestConfig{Publisher: pub, Logger: discardLogger(), Storing: func() error {
		if p := storing.Load(); p != nil {
			return *p
		}
		return nil
	}})
	var err error = errDiskFull
	storing.Store(&err)
	refused := in.Ingest(t.Context(), mustJSON(t, []any{eventJSON()}))
	require.ErrorIs(t, refused, store.ErrUnavailable)
	require.ErrorContains(t, refused, "disk is full")
	require.Empty(t, pub.published())

	storing.Store(nil)
	ev := eventJSON()
	require.NoError(t, in.Ingest(t.Context(), mustJSON(t, []any{ev})))
	require.Len(t, pub.published(), 1)
	require.Equal(t, ev["id"], pub.published()[0].ID.String())
}

// /events/in: an event read while events cannot be stored is not published
// and the socket closes with 1013 (try again later) before confirming it.
func TestInClosesWhileEventsCannotBeStored(t *testing.T) {
	t.Parallel()
	logger, logs := bufferLogger()
	b := NewBroker()
	sub := b.Subscribe("test", 100)
	var down atomic.Bool
	in := NewIngestor(IngestConfig{Publisher: b, Logger: logger, Storing: func() error {
		if down.Load() {
			return errDiskFull
		}
		return nil
	}})
	srv := httptest.NewServer(InHandler(InConfig{Ingestor: in, Logger: logger}))
	t.Cleanup(srv.Close)
	c := dialWS(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/events/in", true)
	c.auth(t, nil)

	first := eventJSON()
	c.send(t, mustJSON(t, first))
	c.ping(t)
	require.Equal(t, first["id"], receiveN(t, sub, 1)[0].ID.String())

	down.Store(true)
	c.send(t, mustJSON(t, eventJSON()))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.Error(t, c.Ping(ctx), "the event after the failure is not confirmed")
	c.requireClosed(t, websocket.StatusTryAgainLater, "Events cannot be stored now; retry later")
	requireNothing(t, sub)
	require.Contains(t, logs.String(), "refusing events that cannot be stored")
}
