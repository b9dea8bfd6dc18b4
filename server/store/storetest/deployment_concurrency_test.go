package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

var newClient = &[3]int{3, 9, 0}

// propose runs a proposal of a new client through the core policy.
func propose(s store.Store, id uuid.UUID, p schema.StateCreate, now time.Time) (orchestration.FlowRunResult, error) {
	return Writes(s).SetFlowRunState(context.Background(), id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
		return orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Deployment: dep, Proposed: p.ToState(now), Now: now,
			ClientVersion: newClient})
	})
}

// limitedDeployment creates a deployment with a concurrency limit and
// n runs of it, Scheduled in the past.
func limitedDeployment(t *testing.T, s store.Store, limit int, strategy string, n int) (schema.Deployment, []uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	f := Flow(t, s, "limited")
	d := Deployment(t, s, map[string]any{
		"name": "one-at-a-time", "flow_id": f.ID, "concurrency_limit": limit,
		"concurrency_options": map[string]any{"collision_strategy": strategy}})
	var ids []uuid.UUID
	past := time.Now().UTC().Add(-time.Minute)
	for range n {
		run := newRun(f.ID)
		run.DeploymentID = &d.ID
		run.State = &schema.State{ID: uuid.Must(uuid.NewV7()), Type: schema.StateScheduled, Name: "Scheduled", Timestamp: past,
			StateDetails: schema.StateDetails{ScheduledTime: &past}}
		stored, _, err := Writes(s).CreateFlowRun(ctx, run)
		require.NoError(t, err)
		ids = append(ids, stored.ID)
	}
	return d, ids
}

func deploymentLimit(t *testing.T, s store.Store, id uuid.UUID) schema.ConcurrencyLimitV2 {
	t.Helper()
	l, err := s.ReadConcurrencyLimit(context.Background(), store.LimitByName("deployment:"+id.String()))
	require.NoError(t, err)
	return l
}

func TestDeploymentLimitFollowsDeployment(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		d, _ := limitedDeployment(t, s, 2, "ENQUEUE", 0)
		l := deploymentLimit(t, s, d.ID)
		require.Equal(t, 2, l.Limit)
		require.True(t, l.Active)

		require.NoError(t, s.UpdateDeployment(ctx, d.ID, decodeDeploymentUpdate(t, `{"concurrency_limit": 5}`)))
		l2 := deploymentLimit(t, s, d.ID)
		require.Equal(t, l.ID, l2.ID)
		require.Equal(t, 5, l2.Limit)

		// An update that leaves the limit alone keeps it.
		require.NoError(t, s.UpdateDeployment(ctx, d.ID, decodeDeploymentUpdate(t, `{"description": "x"}`)))
		require.Equal(t, 5, deploymentLimit(t, s, d.ID).Limit)

		require.NoError(t, s.UpdateDeployment(ctx, d.ID, decodeDeploymentUpdate(t, `{"concurrency_limit": null}`)))
		_, err := s.ReadConcurrencyLimit(ctx, store.LimitByName("deployment:"+d.ID.String()))
		require.ErrorIs(t, err, schema.ErrNotFound)

		// Upserting sets it again; deleting the deployment deletes it.
		d2, created, err := s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, map[string]any{
			"name": d.Name, "flow_id": d.FlowID, "concurrency_limit": 1})))
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, 1, deploymentLimit(t, s, d2.ID).Limit)
		require.NoError(t, s.DeleteDeployment(ctx, d.ID))
		_, err = s.ReadConcurrencyLimit(ctx, store.LimitByName("deployment:"+d.ID.String()))
		require.ErrorIs(t, err, schema.ErrNotFound)
	})
}

func TestDeploymentConcurrencyLifecycle(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		d, ids := limitedDeployment(t, s, 1, "ENQUEUE", 2)
		now := time.Now().UTC().Truncate(time.Microsecond)
		pending := schema.StateCreate{Type: schema.StatePending}

		first, err := propose(s, ids[0], pending, now)
		require.NoError(t, err)
		require.Equal(t, schema.StatusAccept, first.Status)
		lease := first.Write.StateDetails.DeploymentConcurrencyLeaseID
		require.NotNil(t, lease)
		stored, err := s.ReadConcurrencyLease(ctx, *lease)
		require.NoError(t, err)
		require.WithinDuration(t, now.Add(300*time.Second), stored.Expiration, 5*time.Second)
		require.Equal(t, 1, deploymentLimit(t, s, d.ID).ActiveSlots)

		res, err := propose(s, ids[0], schema.StateCreate{Type: schema.StateRunning}, now)
		require.NoError(t, err)
		require.Equal(t, schema.StatusAccept, res.Status)
		require.Equal(t, *lease, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)

		second, err := propose(s, ids[1], pending, now)
		require.NoError(t, err)
		require.Equal(t, schema.StatusReject, second.Status)
		require.Equal(t, "AwaitingConcurrencySlot", second.Write.Name)
		require.Equal(t, now.Add(30*time.Second), *second.Write.StateDetails.ScheduledTime)

		res, err = propose(s, ids[0], schema.StateCreate{Type: schema.StateCompleted}, now)
		require.NoError(t, err)
		require.Equal(t, schema.StatusAccept, res.Status)
		_, err = s.ReadConcurrencyLease(ctx, *lease)
		require.ErrorIs(t, err, schema.ErrNotFound)
		require.Equal(t, 0, deploymentLimit(t, s, d.ID).ActiveSlots)

		second, err = propose(s, ids[1], pending, now)
		require.NoError(t, err)
		require.Equal(t, schema.StatusAccept, second.Status)
		require.Equal(t, 1, deploymentLimit(t, s, d.ID).ActiveSlots)

		// The lease is reaped while the run is provisioned: with the slot
		// free, starting takes it again under a new lease.
		lease2 := *second.Write.StateDetails.DeploymentConcurrencyLeaseID
		released, err := s.ReleaseConcurrencyLease(ctx, lease2, store.SlotWaits{Tag: 10, Max: 30})
		require.NoError(t, err)
		require.True(t, released)
		// (Its Pending state kept AwaitingConcurrencySlot's scheduled time.)
		res, err = propose(s, ids[1], schema.StateCreate{Type: schema.StateRunning}, now.Add(31*time.Second))
		require.NoError(t, err)
		require.Equal(t, schema.StatusAccept, res.Status)
		require.NotEqual(t, lease2, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
		require.Equal(t, 1, deploymentLimit(t, s, d.ID).ActiveSlots)
	})
}

func TestDeploymentConcurrencyLostSlotCancels(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		d, ids := limitedDeployment(t, s, 1, "CANCEL_NEW", 2)
		now := time.Now().UTC().Truncate(time.Microsecond)
		pending := schema.StateCreate{Type: schema.StatePending}
		first, err := propose(s, ids[0], pending, now)
		require.NoError(t, err)
		lease := *first.Write.StateDetails.DeploymentConcurrencyLeaseID

		second, err := propose(s, ids[1], pending, now)
		require.NoError(t, err)
		require.Equal(t, schema.StatusReject, second.Status)
		require.Equal(t, schema.StateCancelled, second.Write.Type)

		// The first run's lease is reaped and another client takes the slot.
		_, err = s.ReleaseConcurrencyLease(ctx, lease, store.SlotWaits{Tag: 10, Max: 30})
		require.NoError(t, err)
		got, err := s.AcquireConcurrencySlots(ctx, store.SlotAcquisition{Names: []string{"deployment:" + d.ID.String()},
			Slots: 1, Mode: schema.ModeConcurrency, Lease: &store.LeaseSpec{TTL: time.Minute}, Waits: store.SlotWaits{Tag: 10, Max: 30}})
		require.NoError(t, err)
		require.True(t, got.Acquired)

		res, err := propose(s, ids[0], schema.StateCreate{Type: schema.StateRunning}, now)
		require.NoError(t, err)
		require.Equal(t, schema.StatusReject, res.Status)
		require.Equal(t, schema.StateCancelled, res.Write.Type)
		require.Equal(t, 1, deploymentLimit(t, s, d.ID).ActiveSlots)
	})
}

func TestDeploymentConcurrencyRace(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		d, ids := limitedDeployment(t, s, 2, "ENQUEUE", 10)
		now := time.Now().UTC().Truncate(time.Microsecond)
		var wg sync.WaitGroup
		results := make([]orchestration.FlowRunResult, len(ids))
		errs := make([]error, len(ids))
		start := make(chan struct{})
		for i, id := range ids {
			wg.Go(func() {
				<-start
				results[i], errs[i] = propose(s, id, schema.StateCreate{Type: schema.StatePending}, now)
			})
		}
		close(start)
		wg.Wait()
		accepted, waiting := 0, 0
		for i := range ids {
			require.NoError(t, errs[i])
			switch results[i].Status {
			case schema.StatusAccept:
				accepted++
			case schema.StatusReject:
				require.Equal(t, "AwaitingConcurrencySlot", results[i].Write.Name)
				waiting++
			}
		}
		require.Equal(t, 2, accepted)
		require.Equal(t, 8, waiting)
		require.Equal(t, 2, deploymentLimit(t, s, d.ID).ActiveSlots)
	})
}
