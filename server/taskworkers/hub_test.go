package taskworkers

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/runs"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

func woken(s *subscriber) bool {
	select {
	case <-s.wake:
		return true
	default:
		return false
	}
}

// TestHubWakesSubscribers: a run queued through the runs service wakes the
// subscribers of its key on this replica at once (no poll involved), and
// only them; a poll wakes the subscribers of every key with unclaimed runs,
// and releases the claims that went stale (their server died).
func TestHubWakesSubscribers(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		now := time.Now()
		h := New(Config{Store: st, Now: func() time.Time { return now }})
		rs := runs.New(storetest.Writes(st), nil, runs.Config{Enqueued: h.Wake})
		k, other := h.subscribe([]string{"k"}), h.subscribe([]string{"other"})
		defer h.unsubscribe(k)
		defer h.unsubscribe(other)

		deferred := func(key string) schema.TaskRun {
			state := schema.StateCreate{Type: schema.StateScheduled, StateDetails: schema.StateDetails{Deferred: true}}.ToState(now)
			run, created, err := rs.CreateTaskRun(context.Background(), schema.TaskRun{ID: uuid.New(), Name: key, TaskKey: key,
				DynamicKey: uuid.NewString(), Tags: []string{}, State: &state})
			require.NoError(t, err)
			require.True(t, created)
			return run
		}
		run := deferred("k")
		require.True(t, woken(k), "queued through the runs service")
		require.False(t, woken(other))

		// A claim left by a server that died is released once stale; until
		// then the queue has nothing for a poll to wake anyone for.
		c, ok, err := st.ClaimTaskRun(context.Background(), []string{"k"})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, run.ID, c.Run.ID)
		require.NoError(t, h.Poll(context.Background()))
		require.False(t, woken(k))
		now = now.Add(ClaimTTL + time.Second)
		require.NoError(t, h.Poll(context.Background()))
		require.True(t, woken(k), "the stale claim was released")
		require.False(t, woken(other))
		again, ok, err := st.ClaimTaskRun(context.Background(), []string{"k"})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, run.ID, again.Run.ID)
		require.NoError(t, st.AckTaskRun(context.Background(), again))
		require.NoError(t, h.Poll(context.Background()))
		require.False(t, woken(k), "nothing left to wake for")
	})
}

func TestTrackerLists(t *testing.T) {
	t.Parallel()
	var tr tracker
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Empty(t, tr.list(nil))
	tr.connect("b", []string{"y", "x"}, t0)
	tr.connect("a", []string{"x"}, t0)
	tr.connect("a", []string{"z"}, t0.Add(time.Second)) // a second connection adds its keys
	tr.see("b", t0.Add(2*time.Second))

	all := tr.list(nil)
	require.Equal(t, []schema.TaskWorker{
		{Identifier: "a", TaskKeys: []string{"x", "z"}, Timestamp: schema.DateTime{Time: t0.Add(time.Second)}},
		{Identifier: "b", TaskKeys: []string{"x", "y"}, Timestamp: schema.DateTime{Time: t0.Add(2 * time.Second)}},
	}, all)
	require.Len(t, tr.list([]string{"y", "nope"}), 1)
	require.Empty(t, tr.list([]string{"nope"}))

	tr.disconnect("a")
	require.Len(t, tr.list([]string{"z"}), 1, "a still has a connection")
	tr.disconnect("a")
	require.Empty(t, tr.list([]string{"z"}))
	tr.seeAll(t0.Add(time.Hour))
	require.Equal(t, t0.Add(time.Hour), tr.list(nil)[0].Timestamp.Time)
}
