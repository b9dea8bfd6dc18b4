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

// schedulerRun is a run as the scheduler builds it: a fresh id, the key,
// and its Scheduled state with the forced policy's bookkeeping.
func schedulerRun(d schema.Deployment, scheduleID uuid.UUID, at time.Time) schema.FlowRun {
	key := "scheduled " + d.ID.String() + " " + scheduleID.String() + " " + at.UTC().Format("2006-01-02 15:04:05+00:00")
	run := newRun(d.FlowID)
	run.DeploymentID, run.AutoScheduled, run.IdempotencyKey = &d.ID, true, &key
	run.CreatedBy = &schema.CreatedBy{ID: &scheduleID, Type: ptr("SCHEDULE")}
	now := time.Now().UTC().Truncate(time.Microsecond)
	at = at.UTC()
	res := orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Force: true, Now: now,
		Proposed: schema.StateCreate{Type: schema.StateScheduled, StateDetails: schema.StateDetails{ScheduledTime: &at}}.ToState(now)})
	run = res.Run
	run.State = res.Write
	return run
}

// Inserting the same scheduled runs, again or from many callers at once
// with fresh run ids, stores each key once, each with exactly one state that
// is its current state.
func TestInsertScheduledRunsIsIdempotent(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "etl")
		d := Deployment(t, s, map[string]any{"name": "d", "flow_id": f.ID,
			"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 60}}}})
		sched := d.Schedules[0].ID
		base := time.Now().Add(time.Hour).UTC().Truncate(time.Minute)
		batch := func() []schema.FlowRun {
			var runs []schema.FlowRun
			for i := range 30 {
				runs = append(runs, schedulerRun(d, sched, base.Add(time.Duration(i)*time.Minute)))
			}
			return runs
		}
		n, err := Writes(s).InsertScheduledRuns(ctx, batch())
		require.NoError(t, err)
		require.Equal(t, 30, n)
		n, err = Writes(s).InsertScheduledRuns(ctx, batch())
		require.NoError(t, err)
		require.Zero(t, n)

		// Overlapping batches at once: the first 30 exist, 30 more are new.
		var wg sync.WaitGroup
		counts := make(chan int, 8)
		for g := range 8 {
			wg.Go(func() {
				var runs []schema.FlowRun
				for i := range 60 {
					runs = append(runs, schedulerRun(d, sched, base.Add(time.Duration((i+g*7)%60)*time.Minute)))
				}
				n, err := Writes(s).InsertScheduledRuns(ctx, runs)
				require.NoError(t, err)
				counts <- n
			})
		}
		wg.Wait()
		close(counts)
		total := 0
		for n := range counts {
			total += n
		}
		require.Equal(t, 30, total)

		runs, err := s.FilterFlowRuns(ctx, schema.Query{FlowRuns: &schema.FlowRunFilter{DeploymentID: &schema.IDFilter{Any: []uuid.UUID{d.ID}}}})
		require.NoError(t, err)
		require.Len(t, runs, 60)
		for _, r := range runs {
			states, err := s.ReadFlowRunStates(ctx, r.ID)
			require.NoError(t, err)
			require.Len(t, states, 1)
			require.Equal(t, states[0].ID, r.State.ID)
			require.Equal(t, schema.StateScheduled, *r.StateType)
			require.True(t, r.NextScheduledStartTime.Equal(*r.State.StateDetails.ScheduledTime))
		}
	})
}

// A deployment is due for scheduling while one of its active schedules has
// too few future runs or none far enough ahead; paused deployments and
// inactive schedules never are.
func TestDeploymentsToSchedule(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "etl")
		mk := func(name string, extra map[string]any) schema.Deployment {
			body := map[string]any{"name": name, "flow_id": f.ID,
				"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 60}}}}
			for k, v := range extra {
				body[k] = v
			}
			return Deployment(t, s, body)
		}
		due := mk("due", nil)
		paused := mk("paused", map[string]any{"paused": true})
		inactive := mk("inactive", map[string]any{"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 60}, "active": false}}})
		full := mk("full", nil)
		now := time.Now().UTC()
		var runs []schema.FlowRun
		for i := 1; i <= 3; i++ {
			runs = append(runs, schedulerRun(full, full.Schedules[0].ID, now.Add(time.Duration(i)*time.Hour)))
		}
		_, err := Writes(s).InsertScheduledRuns(ctx, runs)
		require.NoError(t, err)

		q := store.DeploymentsToSchedule{Now: now, MinRuns: 3, MinScheduledTime: time.Hour, Limit: 10}
		ids, err := s.DeploymentsToSchedule(ctx, q)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{due.ID}, ids, "not %s, %s or %s", paused.ID, inactive.ID, full.ID)

		q.MinScheduledTime = 4 * time.Hour
		ids, err = s.DeploymentsToSchedule(ctx, q)
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{due.ID, full.ID}, ids, "full's runs no longer reach far enough")

		q.MinScheduledTime, q.MinRuns = time.Hour, 4
		q.After = &due.ID
		ids, err = s.DeploymentsToSchedule(ctx, q)
		require.NoError(t, err)
		for _, id := range ids {
			require.Greater(t, id.String(), due.ID.String(), "pages by id")
		}

		since := now.Add(-time.Minute)
		ids, err = s.DeploymentsToSchedule(ctx, store.DeploymentsToSchedule{Now: now, UpdatedSince: &since, Limit: 10})
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{due.ID, full.ID}, ids, "recently updated, not paused, with an active schedule")
		later := now.Add(time.Minute)
		ids, err = s.DeploymentsToSchedule(ctx, store.DeploymentsToSchedule{Now: now, UpdatedSince: &later, Limit: 10})
		require.NoError(t, err)
		require.Empty(t, ids)
	})
}

// Transitions of one run at once are decided one after the other, each on
// the state the previous one wrote: of several passes marking a run Late,
// one writes.
func TestSetFlowRunStateSeesTheStateWrittenBeforeIt(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "etl")
		run := scheduledRun(t, s, f.ID, nil, time.Now().Add(-time.Hour).UTC())
		var wg sync.WaitGroup
		written := make(chan bool, 8)
		for range 8 {
			wg.Go(func() {
				now := time.Now().UTC()
				res, err := Writes(s).SetFlowRunState(ctx, run.ID, func(r schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
					p := schema.StateCreate{Type: schema.StateScheduled, Name: ptr("Late"),
						StateDetails: schema.StateDetails{ScheduledTime: r.NextScheduledStartTime}}
					return orchestration.FlowRun(orchestration.FlowRunContext{Run: r, Deployment: dep, Proposed: p.ToState(now),
						Policy: orchestration.MarkLateRunsPolicy, Now: now})
				})
				require.NoError(t, err)
				written <- res.Write != nil
			})
		}
		wg.Wait()
		close(written)
		n := 0
		for w := range written {
			if w {
				n++
			}
		}
		require.Equal(t, 1, n)
		states, err := s.ReadFlowRunStates(ctx, run.ID)
		require.NoError(t, err)
		require.Len(t, states, 2)
	})
}
