package services

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// RunStore is the part of the store the services that watch runs read.
type RunStore interface {
	store.Maintenance
	ReadFlowRun(ctx context.Context, id uuid.UUID) (schema.FlowRun, error)
	ReadTaskRun(ctx context.Context, id uuid.UUID) (schema.TaskRun, error)
	FilterTaskRuns(ctx context.Context, q schema.Query) ([]schema.TaskRun, error)
}

// Runs changes run states: the runs service (server/runs), the one door
// every state change goes through, which also emits the transitions'
// events (workers and runners watch them for Cancelling).
type Runs interface {
	SetFlowRunState(ctx context.Context, id uuid.UUID, t schema.FlowRunTransition) (schema.TransitionResult, error)
	SetTaskRunState(ctx context.Context, id uuid.UUID, t schema.TaskRunTransition) (schema.TransitionResult, error)
	CreateScheduledRuns(ctx context.Context, runs []schema.FlowRun) (int, error)
}

// setFlowRunState proposes t and reports whether a state was written. A
// run deleted meanwhile is no error.
func setFlowRunState(ctx context.Context, runs Runs, id uuid.UUID, t schema.FlowRunTransition) (bool, error) {
	res, err := runs.SetFlowRunState(ctx, id, t)
	if errors.Is(err, schema.ErrNotFound) {
		return false, nil
	}
	return res.Written, err
}

// utcNow is now (nil: the wall clock) as Prefect writes times.
func utcNow(now func() time.Time) time.Time {
	if now == nil {
		now = time.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// LateRuns marks Scheduled runs that missed their start by more than After
// as Late (Prefect's late_runs service), through MarkLateRunsPolicy: only a
// run still Scheduled and not yet Late moves, and it keeps its scheduled
// time.
type LateRuns struct {
	Store RunStore
	Runs  Runs
	// After is PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS.
	After time.Duration
	// BatchSize bounds the runs one pass looks at (Prefect's 400).
	BatchSize int
	Now       func() time.Time
}

// RunOnce marks the overdue runs of one batch and reports how many it marked.
func (l LateRuns) RunOnce(ctx context.Context) (marked int, err error) {
	before := utcNow(l.Now).Add(-l.After)
	scheduled := "Scheduled"
	ids, err := l.Store.FlowRunIDs(ctx, store.FlowRunIDs{StateTypes: []schema.StateType{schema.StateScheduled},
		StateName: &scheduled, ScheduledBefore: &before, Limit: cmpOr(l.BatchSize, 400)})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		ok, err := setFlowRunState(ctx, l.Runs, id, schema.FlowRunTransition{MarkLate: true})
		if err != nil {
			return marked, err
		}
		if ok {
			marked++
		}
	}
	return marked, nil
}

// PauseExpirations fails paused runs whose pause timed out (Prefect's
// pause_expirations service): a forced Failed state, "The flow was paused
// and never resumed.".
type PauseExpirations struct {
	Store RunStore
	Runs  Runs
	// BatchSize is how many paused runs are read at a time (Prefect's 200).
	BatchSize int
	Now       func() time.Time
}

// pauseExpiredMessage is the message of the Failed state.
const pauseExpiredMessage = "The flow was paused and never resumed."

func pauseExpired(run schema.FlowRun, now time.Time) bool {
	return run.State != nil && run.State.Type == schema.StatePaused &&
		run.State.StateDetails.PauseTimeout != nil && run.State.StateDetails.PauseTimeout.Before(now)
}

// RunOnce fails every paused run past its timeout and reports how many.
func (p PauseExpirations) RunOnce(ctx context.Context) (failed int, err error) {
	var after *uuid.UUID
	for {
		ids, err := p.Store.FlowRunIDs(ctx, store.FlowRunIDs{StateTypes: []schema.StateType{schema.StatePaused},
			After: after, Limit: cmpOr(p.BatchSize, 200)})
		if err != nil {
			return failed, err
		}
		for _, id := range ids {
			run, err := p.Store.ReadFlowRun(ctx, id)
			if errors.Is(err, schema.ErrNotFound) {
				continue
			}
			if err != nil {
				return failed, err
			}
			now := utcNow(p.Now)
			if !pauseExpired(run, now) {
				continue
			}
			msg := pauseExpiredMessage
			ok, err := setFlowRunState(ctx, p.Runs, id, schema.FlowRunTransition{
				State: schema.StateCreate{Type: schema.StateFailed, Message: &msg}, Force: true,
				Skip: func(run schema.FlowRun) bool { return !pauseExpired(run, now) }, // resumed meanwhile
			})
			if err != nil {
				return failed, err
			}
			if ok {
				failed++
			}
		}
		if len(ids) < cmpOr(p.BatchSize, 200) {
			return failed, nil
		}
		after = &ids[len(ids)-1]
	}
}

// CancellationCleanup finishes what cancelling a flow run leaves behind
// (Prefect's cancellation_cleanup services): the unfinished task runs of a
// run cancelled within the last day become Cancelled, and a subflow whose
// parent flow run is cancelled becomes Cancelled, or Cancelling when it has
// a deployment (so its worker stops it).
type CancellationCleanup struct {
	Store RunStore
	Runs  Runs
	// BatchSize is how many runs are read at a time (Prefect's 200).
	BatchSize int
	Now       func() time.Time
}

// CleanupResult counts what a cleanup pass cancelled.
type CleanupResult struct {
	TaskRuns int
	Subflows int
}

// parentCancelledMessage is the message of the states cleanup proposes.
const parentCancelledMessage = "The parent flow run was cancelled."

var nonTerminal = []schema.StateType{schema.StateScheduled, schema.StatePending, schema.StateRunning,
	schema.StatePaused, schema.StateCancelling}

// RunOnce does both cleanups.
func (c CancellationCleanup) RunOnce(ctx context.Context) (CleanupResult, error) {
	var res CleanupResult
	batch := cmpOr(c.BatchSize, 200)

	since := utcNow(c.Now).Add(-24 * time.Hour)
	var after *uuid.UUID
	for {
		ids, err := c.Store.FlowRunIDs(ctx, store.FlowRunIDs{StateTypes: []schema.StateType{schema.StateCancelled},
			EndedSince: &since, After: after, Limit: batch})
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			n, err := c.cancelTaskRuns(ctx, id)
			res.TaskRuns += n
			if err != nil {
				return res, err
			}
		}
		if len(ids) < batch {
			break
		}
		after = &ids[len(ids)-1]
	}

	after = nil
	for {
		ids, err := c.Store.FlowRunIDs(ctx, store.FlowRunIDs{StateTypes: nonTerminal, Subflows: true, After: after, Limit: batch})
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			ok, err := c.cancelSubflow(ctx, id)
			if err != nil {
				return res, err
			}
			if ok {
				res.Subflows++
			}
		}
		if len(ids) < batch {
			return res, nil
		}
		after = &ids[len(ids)-1]
	}
}

// cancelTaskRuns cancels up to 100 unfinished task runs of a cancelled run.
func (c CancellationCleanup) cancelTaskRuns(ctx context.Context, flowRunID uuid.UUID) (int, error) {
	limit := 100
	trs, err := c.Store.FilterTaskRuns(ctx, schema.Query{
		FlowRuns: &schema.FlowRunFilter{ID: &schema.IDFilter{Any: []uuid.UUID{flowRunID}}},
		TaskRuns: &schema.TaskRunFilter{State: &schema.StateFilter{Type: &schema.StateTypeFilter{Any: nonTerminal}}},
		Page:     schema.Page{Limit: &limit},
	})
	if err != nil {
		return 0, err
	}
	n := 0
	msg := parentCancelledMessage
	for _, tr := range trs {
		res, err := c.Runs.SetTaskRunState(ctx, tr.ID, schema.TaskRunTransition{
			State: schema.StateCreate{Type: schema.StateCancelled, Message: &msg}, Force: true,
			// Finished meanwhile, or cancelled by another replica's pass.
			Skip: func(run schema.TaskRun) bool { return run.State != nil && run.State.Type.Terminal() },
		})
		if errors.Is(err, schema.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if res.Written {
			n++
		}
	}
	return n, nil
}

// cancelSubflow cancels a subflow whose parent flow run is cancelled (or
// gone), as Prefect's cancel_subflow_run does.
func (c CancellationCleanup) cancelSubflow(ctx context.Context, id uuid.UUID) (bool, error) {
	sub, err := c.Store.ReadFlowRun(ctx, id)
	if errors.Is(err, schema.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if sub.ParentTaskRunID == nil || sub.State == nil || sub.State.Type.Terminal() {
		return false, nil
	}
	parent, err := c.Store.ReadTaskRun(ctx, *sub.ParentTaskRunID)
	if errors.Is(err, schema.ErrNotFound) || (err == nil && parent.FlowRunID == nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	containing, err := c.Store.ReadFlowRun(ctx, *parent.FlowRunID)
	switch {
	case err == nil && containing.State != nil && containing.State.Type != schema.StateCancelled:
		return false, nil
	case err != nil && !errors.Is(err, schema.ErrNotFound):
		return false, err
	}
	if sub.DeploymentID != nil && sub.State.Type == schema.StateCancelling {
		return false, nil // its worker is already stopping it
	}
	target := schema.StateCancelled
	if sub.DeploymentID != nil {
		target = schema.StateCancelling
	}
	msg := parentCancelledMessage
	return setFlowRunState(ctx, c.Runs, id, schema.FlowRunTransition{
		State: schema.StateCreate{Type: target, Message: &msg},
		// Moved on meanwhile, or another pass got here first.
		Skip: func(run schema.FlowRun) bool {
			return run.State == nil || run.State.Type.Terminal() || run.State.Type == target
		},
	})
}

func cmpOr(v, fallback int) int {
	if v > 0 {
		return v
	}
	return fallback
}
