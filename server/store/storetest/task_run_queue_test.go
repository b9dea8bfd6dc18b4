package storetest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// deferredRun creates a background task run of key, as task.delay() does:
// no flow run, a deferred Scheduled state, which queues it.
func deferredRun(t testing.TB, s store.Store, key string) schema.TaskRun {
	t.Helper()
	run := schema.TaskRun{ID: uuid.New(), Name: key, TaskKey: key, DynamicKey: key + "-" + uuid.NewString(),
		EmpiricalPolicy: schema.TaskRunPolicy{}, Tags: []string{}}
	return TaskRun(t, s, run, schema.StateCreate{Type: schema.StateScheduled,
		StateDetails: schema.StateDetails{Deferred: true}}, time.Now())
}

// claimIDs claims from keys until the queue has nothing for them, acking
// each claim, and returns the runs in the order they came.
func claimIDs(t *testing.T, s store.Store, keys ...string) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	var out []uuid.UUID
	for {
		c, ok, err := s.ClaimTaskRun(ctx, keys)
		require.NoError(t, err)
		if !ok {
			return out
		}
		require.NoError(t, s.AckTaskRun(ctx, c))
		out = append(out, c.Run.ID)
	}
}

func claim(t *testing.T, s store.Store, keys ...string) store.TaskRunClaim {
	t.Helper()
	c, ok, err := s.ClaimTaskRun(context.Background(), keys)
	require.NoError(t, err)
	require.True(t, ok, "nothing queued for %v", keys)
	return c
}

func requireEmpty(t *testing.T, s store.Store, keys ...string) {
	t.Helper()
	_, ok, err := s.ClaimTaskRun(context.Background(), keys)
	require.NoError(t, err)
	require.False(t, ok, "a run is still queued for %v", keys)
}

func TestTaskRunQueue(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()

		// Only deferred Scheduled runs are queued, each under its key; a
		// claim returns the run as stored, Scheduled, with its claim.
		a, b := deferredRun(t, s, "k"), deferredRun(t, s, "k")
		other := deferredRun(t, s, "other")
		TaskRun(t, s, schema.TaskRun{ID: uuid.New(), Name: "plain", TaskKey: "k", DynamicKey: "plain", Tags: []string{}},
			schema.StateCreate{Type: schema.StateScheduled}, time.Now())
		keys, err := s.QueuedTaskKeys(ctx, []string{"k", "other", "none"})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"k", "other"}, keys)
		got := claim(t, s, "k", "none")
		require.Equal(t, a.ID, got.Run.ID, "oldest first")
		require.Equal(t, schema.StateScheduled, got.Run.State.Type)
		require.True(t, got.Run.State.StateDetails.Deferred)
		require.NotEqual(t, uuid.Nil, got.Claim)

		// Released (the send failed), it comes back ahead of older runs
		// never sent; acked, it is gone.
		require.NoError(t, s.ReleaseTaskRun(ctx, got))
		c := deferredRun(t, s, "k")
		again := claim(t, s, "k")
		require.Equal(t, a.ID, again.Run.ID)
		require.NotEqual(t, got.Claim, again.Claim, "each hand-over has a claim of its own")
		require.NoError(t, s.AckTaskRun(ctx, again))
		require.Equal(t, []uuid.UUID{b.ID, c.ID}, claimIDs(t, s, "k"))
		require.Equal(t, []uuid.UUID{other.ID}, claimIDs(t, s, "other"))
		keys, err = s.QueuedTaskKeys(ctx, []string{"k", "other"})
		require.NoError(t, err)
		require.Empty(t, keys)

		// AwaitingRetry goes ahead of runs queued before it.
		d, e := deferredRun(t, s, "k"), deferredRun(t, s, "k")
		res := ProposeTaskRunState(t, s, e.ID, schema.StateCreate{Type: schema.StateScheduled, Name: ptr("AwaitingRetry"),
			StateDetails: schema.StateDetails{Deferred: true}}, false, time.Now())
		require.NotNil(t, res.Enqueue)
		require.Equal(t, []uuid.UUID{e.ID, d.ID}, claimIDs(t, s, "k"))

		// A queued run that moved on is dropped, not handed out.
		f, g := deferredRun(t, s, "k"), deferredRun(t, s, "k")
		ProposeTaskRunState(t, s, f.ID, schema.StateCreate{Type: schema.StateRunning}, true, time.Now())
		require.Equal(t, []uuid.UUID{g.ID}, claimIDs(t, s, "k"))

		// A claim held and renewed is not stale; one not renewed in time
		// is released to whoever claims next, and the old claim can then
		// neither renew, ack nor release it.
		h := deferredRun(t, s, "k")
		held := claim(t, s, "k")
		requireEmpty(t, s, "k")
		renewed, err := s.RenewTaskRunClaim(ctx, held)
		require.NoError(t, err)
		require.True(t, renewed)
		n, err := s.ReleaseStaleTaskRunClaims(ctx, time.Now().Add(-time.Hour))
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.ReleaseStaleTaskRunClaims(ctx, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		renewed, err = s.RenewTaskRunClaim(ctx, held)
		require.NoError(t, err)
		require.False(t, renewed)
		require.NoError(t, s.AckTaskRun(ctx, held))
		taken := claim(t, s, "k")
		require.Equal(t, h.ID, taken.Run.ID)
		require.NoError(t, s.ReleaseTaskRun(ctx, held))
		requireEmpty(t, s, "k")

		// Queued again while its claim is out, the run is handed out again:
		// the ack of the earlier hand-over does not remove the new entry.
		ProposeTaskRunState(t, s, h.ID, schema.StateCreate{Type: schema.StateScheduled,
			StateDetails: schema.StateDetails{Deferred: true}}, true, time.Now())
		require.NoError(t, s.AckTaskRun(ctx, taken))
		require.Equal(t, []uuid.UUID{h.ID}, claimIDs(t, s, "k"))

		// A deleted run leaves the queue with it.
		i := deferredRun(t, s, "k")
		require.NoError(t, s.DeleteTaskRun(ctx, i.ID))
		requireEmpty(t, s, "k")

		// No keys, nothing.
		requireEmpty(t, s)
		keys, err = s.QueuedTaskKeys(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, keys)
	})
}

// sharedDatabase opens two stores over one fresh database of the backend,
// as two replicas (or a server and the same server restarted) see it.
func sharedDatabase(t *testing.T, backend string) func() store.Store {
	switch backend {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "prefect.db")
		return func() store.Store { return openSQLite(t, path) }
	case "postgres":
		url := NewPostgresDatabase(t)
		return func() store.Store { return openPostgres(t, url) }
	}
	t.Fatalf("unknown backend %s", backend)
	return nil
}

// TestTaskRunQueueSharedAndDurable: the queue is the database's, so runs
// queued before a restart are there after it, and servers claiming from
// one queue at once hand out every run exactly once.
func TestTaskRunQueueSharedAndDurable(t *testing.T) {
	t.Parallel()
	for backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			open := sharedDatabase(t, backend)
			before := open()
			queued := deferredRun(t, before, "durable")
			held := deferredRun(t, before, "durable")
			claim(t, before, "durable") // the first, taken by a server that then dies
			require.NoError(t, before.Close())

			after := open()
			require.Equal(t, []uuid.UUID{held.ID}, claimIDs(t, after, "durable"), "the claimed run waits for its claim to go stale")
			n, err := after.ReleaseStaleTaskRunClaims(context.Background(), time.Now().Add(time.Hour))
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Equal(t, []uuid.UUID{queued.ID}, claimIDs(t, after, "durable"))

			// Several claimers on each of two servers, acking as they go.
			const runs, perServer = 60, 4
			want := map[uuid.UUID]bool{}
			for range runs {
				want[deferredRun(t, after, "shared").ID] = true
			}
			servers := []store.Store{after, open()}
			var mu sync.Mutex
			seen := map[uuid.UUID]int{}
			var wg sync.WaitGroup
			errs := make(chan error, len(servers)*perServer)
			for _, s := range servers {
				for range perServer {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							c, ok, err := s.ClaimTaskRun(context.Background(), []string{"shared"})
							if err != nil {
								errs <- err
								return
							}
							if !ok {
								return
							}
							mu.Lock()
							seen[c.Run.ID]++
							mu.Unlock()
							if err := s.AckTaskRun(context.Background(), c); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.Len(t, seen, runs)
			for id, n := range seen {
				require.True(t, want[id], "a run that was never queued: %s", id)
				require.Equal(t, 1, n, fmt.Sprintf("run %s handed out %d times", id, n))
			}
		})
	}
}
