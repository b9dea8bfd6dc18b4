package services

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// RunStore is the part of the store the services that watch runs need.
type RunStore interface {
	store.Maintenance
	ReadFlowRun(ctx context.Context, id uuid.UUID) (schema.FlowRun, error)
	SetFlowRunState(ctx context.Context, id uuid.UUID, decide store.FlowRunDecider) (orchestration.FlowRunResult, error)
	ReadTaskRun(ctx context.Context, id uuid.UUID) (schema.TaskRun, error)
	FilterTaskRuns(ctx context.Context, q schema.Query) ([]schema.TaskRun, error)
	SetTaskRunState(ctx context.Context, id uuid.UUID, cacheKey *string, decide store.TaskRunDecider) (orchestration.TaskRunResult, error)
	// For the related resources of the events.
	events.RelatedReader
}

// Emitter publishes the events the services' transitions cause.
type Emitter = events.EventEmitter

// transitions is what the run services share: the store, the clock, and
// the prefect.flow-run.<State> event of each transition they make (as
// Prefect's InstrumentFlowRunStateTransitions emits it), which workers and
// runners watch for Cancelling.
type transitions struct {
	store  RunStore
	events *events.FlowRunEvents
	now    func() time.Time
	log    *slog.Logger
}

func newTransitions(st RunStore, ev Emitter, now func() time.Time, log *slog.Logger) transitions {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return transitions{store: st, events: events.NewFlowRunEvents(ev, st, log), now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }, log: log}
}

// setFlowRunState runs decide on the locked run and, when it wrote a
// state, emits its event. A run deleted meanwhile is no error.
func (t transitions) setFlowRunState(ctx context.Context, id uuid.UUID, decide store.FlowRunDecider) (bool, error) {
	var initial *schema.State
	res, err := t.store.SetFlowRunState(ctx, id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
		initial = run.State
		return decide(run, dep)
	})
	if errors.Is(err, schema.ErrNotFound) {
		return false, nil
	}
	if err != nil || res.Write == nil {
		return false, err
	}
	t.events.StateChanged(ctx, res.Run, initial, *res.Write)
	return true, nil
}

// noWrite leaves a run as it is.
func noWrite(run schema.FlowRun) orchestration.FlowRunResult {
	return orchestration.FlowRunResult{Result: orchestration.Result{Status: schema.StatusAbort}, Run: run}
}

// LateRuns marks Scheduled runs that missed their start by more than After
// as Late (Prefect's late_runs service), through MarkLateRunsPolicy: only a
// run still Scheduled and not yet Late moves, and it keeps its scheduled
// time.
type LateRuns struct {
	Store RunStore
	// After is PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS.
	After time.Duration
	// BatchSize bounds the runs one pass looks at (Prefect's 400).
	BatchSize int
	Events    Emitter
	Now       func() time.Time
	Log       *slog.Logger
}

// RunOnce marks the overdue runs of one batch and reports how many it marked.
func (l LateRuns) RunOnce(ctx context.Context) (marked int, err error) {
	t := newTransitions(l.Store, l.Events, l.Now, l.Log)
	before := t.now().Add(-l.After)
	scheduled := "Scheduled"
	ids, err := l.Store.FlowRunIDs(ctx, store.FlowRunIDs{StateTypes: []schema.StateType{schema.StateScheduled},
		StateName: &scheduled, ScheduledBefore: &before, Limit: cmpOr(l.BatchSize, 400)})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		now := t.now()
		ok, err := t.setFlowRunState(ctx, id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
			late := "Late"
			proposal := schema.StateCreate{Type: schema.StateScheduled, Name: &late,
				StateDetails: schema.StateDetails{ScheduledTime: run.NextScheduledStartTime}}
			return orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Deployment: dep, Proposed: proposal.ToState(now),
				Policy: orchestration.MarkLateRunsPolicy, Now: now})
		})
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
	// BatchSize is how many paused runs are read at a time (Prefect's 200).
	BatchSize int
	Events    Emitter
	Now       func() time.Time
	Log       *slog.Logger
}

// pauseExpiredMessage is the message of the Failed state.
const pauseExpiredMessage = "The flow was paused and never resumed."

func pauseExpired(run schema.FlowRun, now time.Time) bool {
	return run.State != nil && run.State.Type == schema.StatePaused &&
		run.State.StateDetails.PauseTimeout != nil && run.State.StateDetails.PauseTimeout.Before(now)
}

// RunOnce fails every paused run past its timeout and reports how many.
func (p PauseExpirations) RunOnce(ctx context.Context) (failed int, err error) {
	t := newTransitions(p.Store, p.Events, p.Now, p.Log)
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
			now := t.now()
			if !pauseExpired(run, now) {
				continue
			}
			ok, err := t.setFlowRunState(ctx, id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
				if !pauseExpired(run, now) {
					return noWrite(run) // resumed meanwhile
				}
				msg := pauseExpiredMessage
				proposal := schema.StateCreate{Type: schema.StateFailed, Message: &msg}
				return orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Deployment: dep, Proposed: proposal.ToState(now), Force: true, Now: now})
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
	// BatchSize is how many runs are read at a time (Prefect's 200).
	BatchSize int
	Events    Emitter
	Now       func() time.Time
	Log       *slog.Logger
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
	t := newTransitions(c.Store, c.Events, c.Now, c.Log)
	batch := cmpOr(c.BatchSize, 200)

	since := t.now().Add(-24 * time.Hour)
	var after *uuid.UUID
	for {
		ids, err := c.Store.FlowRunIDs(ctx, store.FlowRunIDs{StateTypes: []schema.StateType{schema.StateCancelled},
			EndedSince: &since, After: after, Limit: batch})
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			n, err := c.cancelTaskRuns(ctx, t, id)
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
			ok, err := c.cancelSubflow(ctx, t, id)
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
func (c CancellationCleanup) cancelTaskRuns(ctx context.Context, t transitions, flowRunID uuid.UUID) (int, error) {
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
	for _, tr := range trs {
		now := t.now()
		msg := parentCancelledMessage
		res, err := c.Store.SetTaskRunState(ctx, tr.ID, nil, func(run schema.TaskRun, fr *schema.FlowRun, _ *schema.State) orchestration.TaskRunResult {
			if run.State != nil && run.State.Type.Terminal() {
				// Finished meanwhile, or cancelled by another replica's pass.
				return orchestration.TaskRunResult{Result: orchestration.Result{Status: schema.StatusAbort}, Run: run}
			}
			proposal := schema.StateCreate{Type: schema.StateCancelled, Message: &msg}
			return orchestration.TaskRun(orchestration.TaskRunContext{Run: run, Proposed: proposal.ToState(now), Force: true,
				Now: now, FlowRun: fr})
		})
		if errors.Is(err, schema.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if res.Write != nil {
			n++
		}
	}
	return n, nil
}

// cancelSubflow cancels a subflow whose parent flow run is cancelled (or
// gone), as Prefect's cancel_subflow_run does.
func (c CancellationCleanup) cancelSubflow(ctx context.Context, t transitions, id uuid.UUID) (bool, error) {
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
	now := t.now()
	msg := parentCancelledMessage
	return t.setFlowRunState(ctx, id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
		if run.State == nil || run.State.Type.Terminal() || run.State.Type == target {
			return noWrite(run) // moved on meanwhile, or another pass got here first
		}
		proposal := schema.StateCreate{Type: target, Message: &msg}
		return orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Deployment: dep, Proposed: proposal.ToState(now), Now: now})
	})
}

func cmpOr(v, fallback int) int {
	if v > 0 {
		return v
	}
	return fallback
}
