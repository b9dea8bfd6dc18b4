package events

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func testEvents(n int) []schema.Event {
	evs := make([]schema.Event, n)
	for i := range evs {
		evs[i] = schema.Event{ID: uuid.Must(uuid.NewV7()), Event: "test.event"}
	}
	return evs
}

func TestBrokerFanOut(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	a, c := b.Subscribe("a", 10), b.Subscribe("c", 10)
	evs := testEvents(3)

	require.NoError(t, b.Publish(t.Context(), evs...))
	require.Equal(t, evs, receiveN(t, a, 3))
	require.Equal(t, evs, receiveN(t, c, 3))

	c.Close()
	c.Close() // idempotent
	require.NoError(t, b.Publish(t.Context(), evs[0]))
	require.Equal(t, evs[:1], receiveN(t, a, 1))
	requireNothing(t, c)
}

func TestBrokerBackpressure(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	sub := b.Subscribe("slow", 1)
	evs := testEvents(2)
	require.NoError(t, b.Publish(t.Context(), evs[0])) // fills the queue

	done := make(chan error, 1)
	go func() { done <- b.Publish(t.Context(), evs[1]) }()
	select {
	case err := <-done:
		require.FailNow(t, "Publish returned while the queue was full", "err: %v", err)
	case <-time.After(50 * time.Millisecond):
	}

	require.Equal(t, evs[:1], receiveN(t, sub, 1)) // makes room
	require.NoError(t, <-done)
	require.Equal(t, evs[1:], receiveN(t, sub, 1))
}

func TestBrokerPublishGivesUpWithContext(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	b.Subscribe("stuck", 1)
	require.NoError(t, b.Publish(t.Context(), testEvents(1)...))

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.Publish(ctx, testEvents(1)...), context.DeadlineExceeded)
}

func TestBrokerCloseReleasesBlockedPublisher(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	sub := b.Subscribe("closing", 1)
	require.NoError(t, b.Publish(t.Context(), testEvents(1)...))

	done := make(chan error, 1)
	go func() { done <- b.Publish(t.Context(), testEvents(1)...) }()
	time.Sleep(20 * time.Millisecond)
	sub.Close()
	require.NoError(t, <-done)
	// What was delivered before Close is still there to drain.
	require.Len(t, receiveN(t, sub, 1), 1)
}

// An event published while a subscription is made reaches it either among
// the recent events or live: never both, never neither.
func TestBrokerSubscribeRecentMissesNothing(t *testing.T) {
	t.Parallel()
	for range 20 {
		b := NewBroker()
		evs := testEvents(2 * recentEvents)
		published := make(chan struct{})
		go func() {
			defer close(published)
			for _, e := range evs {
				_ = b.Publish(t.Context(), e)
			}
		}()
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		sub, recent := b.SubscribeRecent("out", len(evs))
		<-published
		var got []schema.Event
		for _, e := range recent {
			got = append(got, *e)
		}
		require.LessOrEqual(t, len(recent), recentEvents)
		got = append(got, receiveN(t, sub, len(sub.Events()))...)
		require.NotEmpty(t, got)
		require.Equal(t, evs[len(evs)-len(got):], got, "the recent events, then the live ones, with no gap")
		if len(recent) < recentEvents {
			require.Equal(t, evs, got, "fewer than recentEvents recent only while fewer were published")
		}
	}
}
