package services_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// One pass removes exactly the events older than the period and their
// resource rows; a second pass removes nothing.
func TestRetentionRemovesExactlyTheOldEvents(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		event := func(age time.Duration) schema.Event {
			return schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: now.Add(-age), Received: now, Event: "test.event",
				Resource: schema.Resource{"prefect.resource.id": "thing." + uuid.NewString()},
				Related:  []schema.Resource{{"prefect.resource.id": "rel", "prefect.resource.role": "r"}}}
		}
		var old, fresh []schema.Event
		for range 25 {
			old = append(old, event(8*24*time.Hour))
			fresh = append(fresh, event(6*24*time.Hour))
		}
		_, err := st.InsertEvents(ctx, append(old, fresh...))
		require.NoError(t, err)

		r := services.Retention{Store: st, Period: 7 * 24 * time.Hour, BatchSize: 10, Now: func() time.Time { return now }}
		res, err := r.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, services.RetentionResult{Events: 25, Resources: 50}, res)

		left, err := st.ReadEvents(ctx, store.EventFilter{}, 100)
		require.NoError(t, err)
		require.Len(t, left, 25)
		for _, e := range left {
			require.True(t, e.Occurred.After(now.Add(-7*24*time.Hour)))
		}
		n, err := st.CountEvents(ctx, store.EventFilter{ResourceIDs: []string{"rel"}})
		require.NoError(t, err)
		require.Equal(t, 25, n, "the kept events keep their resource rows")

		again, err := r.RunOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, again)
	})
}

// A pass cancelled midway has deleted whole batches only: every kept event
// still has its resource rows, and nothing newer than the cutoff is gone.
func TestRetentionStoppedMidwayLosesNothingItShouldKeep(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		now := time.Now().UTC().Truncate(time.Microsecond)
		var evs []schema.Event
		for i := range 40 {
			age := 8 * 24 * time.Hour
			if i%2 == 0 {
				age = time.Hour
			}
			evs = append(evs, schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: now.Add(-age), Received: now, Event: "e",
				Resource: schema.Resource{"prefect.resource.id": "res"}})
		}
		_, err := st.InsertEvents(context.Background(), evs)
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		counting := countingEvents{Events: st, after: func() {
			calls++
			if calls == 1 {
				cancel() // stop after the first batch
			}
		}}
		_, err = services.Retention{Store: counting, Period: 7 * 24 * time.Hour, BatchSize: 5, Now: func() time.Time { return now }}.RunOnce(ctx)
		require.ErrorIs(t, err, context.Canceled)

		fresh, err := st.CountEvents(context.Background(), store.EventFilter{Since: ptr(now.Add(-2 * time.Hour))})
		require.NoError(t, err)
		require.Equal(t, 20, fresh, "no event newer than the cutoff was deleted")
		all, err := st.CountEvents(context.Background(), store.EventFilter{})
		require.NoError(t, err)
		require.Equal(t, 35, all, "exactly one batch of old events went")
	})
}

type countingEvents struct {
	store.Events
	after func()
}

func (c countingEvents) DeleteEventsBefore(ctx context.Context, cutoff time.Time, limit int) (int, int, error) {
	e, r, err := c.Events.DeleteEventsBefore(ctx, cutoff, limit)
	c.after()
	return e, r, err
}

func ptr[T any](v T) *T { return &v }
