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

// Workers go OFFLINE after three missed heartbeats of their own interval
// (or the fallback), pools without an online worker NOT_READY, and work
// queues and deployments not polled within the timeouts NOT_READY.
func TestForemanMarksWhatStoppedCheckingIn(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		for _, p := range []string{"a", "b"} {
			storetest.WorkPool(t, st, p)
		}
		sixty := 60
		t0 := time.Now().UTC()
		require.NoError(t, st.WorkerHeartbeat(ctx, "a", "w1", nil))    // fallback 30 s: offline after 90 s
		require.NoError(t, st.WorkerHeartbeat(ctx, "b", "w2", &sixty)) // offline after 180 s

		f := storetest.Flow(t, st, "f-"+uuid.NewString())
		loose := storetest.Deployment(t, st, map[string]any{"name": "loose", "flow_id": f.ID})
		queued := storetest.Deployment(t, st, map[string]any{"name": "queued", "flow_id": f.ID, "work_pool_name": "b", "work_queue_name": "q"})
		require.NoError(t, st.MarkDeploymentsReady(ctx, []uuid.UUID{loose.ID}))
		require.NoError(t, st.MarkWorkQueuesPolled(ctx, []uuid.UUID{*queued.WorkQueueID}))

		fm := func(after time.Duration) store.StaleResult {
			res, err := services.Foreman{Store: st, InactivityHeartbeatMultiple: 3, FallbackHeartbeatInterval: 30 * time.Second,
				DeploymentTimeout: 60 * time.Second, WorkQueueTimeout: 60 * time.Second,
				Now: func() time.Time { return t0.Add(after) }}.RunOnce(ctx)
			require.NoError(t, err)
			return res
		}
		pool := func(name string) string {
			p, err := st.ReadWorkPoolByName(ctx, name)
			require.NoError(t, err)
			return *p.Status
		}
		worker := func(pool string) string {
			ws, err := st.FilterWorkers(ctx, pool, schema.WorkerQuery{})
			require.NoError(t, err)
			require.Len(t, ws, 1)
			return ws[0].Status
		}
		deployment := func(id uuid.UUID) string {
			d, err := st.ReadDeployment(ctx, id)
			require.NoError(t, err)
			return d.Status
		}

		require.Equal(t, store.StaleResult{}, fm(30*time.Second), "everything checked in recently")
		require.Equal(t, schema.StatusReady, pool("a"))

		require.Equal(t, store.StaleResult{Workers: 1, WorkPools: 1, Deployments: 2, WorkQueues: 1}, fm(120*time.Second))
		require.Equal(t, schema.WorkerOffline, worker("a"))
		require.Equal(t, schema.StatusNotReady, pool("a"))
		require.Equal(t, schema.WorkerOnline, worker("b"), "a 60 s heartbeat has 180 s")
		require.Equal(t, schema.StatusReady, pool("b"))
		require.Equal(t, schema.DeploymentNotReady, deployment(loose.ID))
		require.Equal(t, schema.DeploymentNotReady, deployment(queued.ID))
		q, err := st.ReadWorkQueue(ctx, *queued.WorkQueueID)
		require.NoError(t, err)
		require.Equal(t, schema.StatusNotReady, *q.Status)

		require.Equal(t, store.StaleResult{Workers: 1, WorkPools: 1}, fm(200*time.Second))
		require.Equal(t, schema.StatusNotReady, pool("b"))
		require.Equal(t, store.StaleResult{}, fm(300*time.Second), "nothing left to mark")
	})
}
