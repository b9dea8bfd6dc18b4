package services_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// vacuumFixture holds runs of every kind the vacuum must tell apart, each
// with a task run, a log and an artifact.
type vacuumFixture struct {
	now                           time.Time
	old, old2                     uuid.UUID // finished 100 days ago: deleted
	fresh, oldRunning, oldSubflow uuid.UUID // kept
}

func newVacuumFixture(t *testing.T, st store.Store) vacuumFixture {
	ctx := context.Background()
	f := storetest.Flow(t, st, "f-"+uuid.NewString())
	now := time.Now().UTC().Truncate(time.Microsecond)
	ancient := now.Add(-100 * 24 * time.Hour)

	run := func(start time.Time, mutate func(*schema.FlowRun), states ...schema.StateCreate) uuid.UUID {
		r := newFlowRunAt(t, st, f.ID, start, mutate, states...)
		newTaskRun(t, st, r.ID, "t", schema.StateCompleted)
		_, err := st.CreateLogs(ctx, []schema.LogCreate{{Name: "l", Level: 20, Message: "m", Timestamp: &schema.DateTime{Time: start}, FlowRunID: &r.ID}})
		require.NoError(t, err)
		_, err = st.CreateArtifact(ctx, schema.ArtifactCreate{Data: json.RawMessage(`1`), FlowRunID: &r.ID})
		require.NoError(t, err)
		return r.ID
	}
	running, completed := state(schema.StateRunning), state(schema.StateCompleted)
	parent := uuid.Must(uuid.NewV7())
	fx := vacuumFixture{now: now}
	fx.old = run(ancient, nil, running, completed)
	fx.old2 = run(ancient.Add(time.Hour), nil, running, state(schema.StateFailed))
	fx.fresh = run(now.Add(-time.Hour), nil, running, completed)
	fx.oldRunning = run(ancient, nil, running)
	fx.oldSubflow = run(ancient, func(r *schema.FlowRun) { r.ParentTaskRunID = &parent }, running, completed)
	// A log that never belonged to a flow run stays.
	_, err := st.CreateLogs(ctx, []schema.LogCreate{{Name: "worker", Level: 20, Message: "m", Timestamp: &schema.DateTime{Time: ancient}}})
	require.NoError(t, err)
	return fx
}

// One pass deletes exactly the finished top-level runs older than the period,
// with their task runs, logs and artifacts; a second pass deletes nothing.
func TestFlowRunVacuumRemovesExactlyTheOldFinishedRuns(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		fx := newVacuumFixture(t, st)

		v := services.FlowRunVacuum{Store: st, Period: 90 * 24 * time.Hour, BatchSize: 1, Now: func() time.Time { return fx.now }}
		res, err := v.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, services.VacuumResult{FlowRuns: 2, Logs: 2, Artifacts: 2}, res)

		for _, id := range []uuid.UUID{fx.old, fx.old2} {
			_, err := st.ReadFlowRun(ctx, id)
			require.ErrorIs(t, err, schema.ErrNotFound)
		}
		kept := []uuid.UUID{fx.fresh, fx.oldRunning, fx.oldSubflow}
		for _, id := range kept {
			_, err := st.ReadFlowRun(ctx, id)
			require.NoError(t, err)
		}
		tasks, err := st.CountTaskRuns(ctx, schema.Query{})
		require.NoError(t, err)
		require.Equal(t, 3, tasks, "the deleted runs' task runs went with them")
		logs, err := st.FilterLogs(ctx, schema.LogQuery{})
		require.NoError(t, err)
		require.Len(t, logs, 4, "the kept runs' logs and the run-less log stay")
		arts, err := st.CountArtifacts(ctx, schema.ArtifactQuery{})
		require.NoError(t, err)
		require.Equal(t, 3, arts)

		again, err := v.RunOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, again)
	})
}

// A pass cancelled after its first batch deleted one whole run and nothing
// it should keep; the next pass finishes the job.
func TestFlowRunVacuumStoppedMidwayLosesNothingItShouldKeep(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		fx := newVacuumFixture(t, st)
		ctx, cancel := context.WithCancel(context.Background())
		v := services.FlowRunVacuum{Store: cancelAfterFirstRunBatch{Store: st, cancel: cancel}, Period: 90 * 24 * time.Hour,
			BatchSize: 1, Now: func() time.Time { return fx.now }}
		res, err := v.RunOnce(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, services.VacuumResult{FlowRuns: 1}, res)
		runs, err := st.CountFlowRuns(context.Background(), schema.Query{})
		require.NoError(t, err)
		require.Equal(t, 4, runs)

		res, err = services.FlowRunVacuum{Store: st, Period: 90 * 24 * time.Hour, BatchSize: 1, Now: func() time.Time { return fx.now }}.RunOnce(context.Background())
		require.NoError(t, err)
		require.Equal(t, services.VacuumResult{FlowRuns: 1, Logs: 2, Artifacts: 2}, res)
	})
}

type cancelAfterFirstRunBatch struct {
	store.Store
	cancel func()
}

func (c cancelAfterFirstRunBatch) DeleteFlowRunsEndedBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n, err := c.Store.DeleteFlowRunsEndedBefore(ctx, cutoff, limit)
	c.cancel()
	return n, err
}
