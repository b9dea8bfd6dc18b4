// Package runs is the one door through which a flow run or a task run is
// created or changes state, for the API and the background services alike.
// A change is decided by Prefect's rules (server/orchestration) inside the
// store's write transaction, through a decider this package alone hands the
// store; after the commit it does what follows every transition: the
// prefect.flow-run.<State> event, a subflow's state copied onto its parent
// task run, and the wake-up of the task workers of a background task run
// the rules queued.
//
// Callers name the service through interfaces of their own, in schema
// types, so that neither the API nor the services depend on the rules.
package runs

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
)

// Store is what the service needs of the store: creating runs, and the
// state-changing writes that run a decider inside their transaction (no
// other package calls these).
type Store interface {
	// CreateFlowRun inserts run, with its initial state in run.State if set.
	// If a run of the same flow with the same idempotency key exists, that
	// run is returned with created=false and nothing is written.
	CreateFlowRun(ctx context.Context, run schema.FlowRun) (stored schema.FlowRun, created bool, err error)
	// InsertScheduledRuns inserts runs, each with its state in run.State and
	// its bookkeeping fields as set, skipping every run whose flow already
	// has a run with the same idempotency key; it returns how many it
	// inserted. Concurrent calls with the same runs insert each once.
	InsertScheduledRuns(ctx context.Context, runs []schema.FlowRun) (inserted int, err error)
	// SetFlowRunState locks the run, asks decide, and writes what it says:
	// the state (its timestamp moved on by a microsecond while it collides
	// with one of the run's states) and the run's bookkeeping fields.
	SetFlowRunState(ctx context.Context, id uuid.UUID, decide orchestration.FlowRunDecider) (orchestration.FlowRunResult, error)
	// CreateTaskRun inserts run with its initial state, queued for the task
	// workers when enqueue is set, or returns the run with the same flow run,
	// task key and dynamic key with created=false.
	CreateTaskRun(ctx context.Context, run schema.TaskRun, enqueue *orchestration.TaskRunEnqueue) (stored schema.TaskRun, created bool, err error)
	// SetTaskRunState locks the task run and writes what decide says (and
	// queues it for the task workers when the result says so). When
	// cacheKey is set, the newest unexpired cached state for it is passed in.
	SetTaskRunState(ctx context.Context, id uuid.UUID, cacheKey *string, decide orchestration.TaskRunDecider) (orchestration.TaskRunResult, error)
}

// Events publishes the prefect.flow-run.<State> event of a committed
// transition (events.FlowRunEvents); it logs its own failures.
type Events interface {
	StateChanged(ctx context.Context, run schema.FlowRun, initial *schema.State, validated schema.State)
}

// Config holds the settings the rules read.
type Config struct {
	// ConcurrencySlotWait is PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS.
	ConcurrencySlotWait time.Duration
	// InitialDeploymentLeaseDuration is PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION.
	InitialDeploymentLeaseDuration time.Duration
	// MaxCacheKeyLength is PREFECT_SERVER_TASKS_MAX_CACHE_KEY_LENGTH.
	MaxCacheKeyLength int
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
	Log *slog.Logger
	// Written, when set, learns of every state a set_state wrote: the run's
	// kind ("flow" or "task") and the state (the server's metrics).
	Written func(kind string, state schema.State)
	// Enqueued, when set, learns the task key of every background task run
	// queued for the task workers, once committed (it wakes this replica's
	// subscribers; the other replicas poll).
	Enqueued func(taskKey string)
}

// Service creates runs and changes their states. It is safe for concurrent
// use; the store serialises transitions of one run.
type Service struct {
	store  Store
	events Events
	cfg    Config
	log    *slog.Logger
}

// New returns the service over st, publishing flow-run events through ev
// (nil: none).
func New(st Store, ev Events, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, events: ev, cfg: cfg, log: cfg.Log}
}

// clock is the current time as Prefect writes it: UTC, microseconds.
func (s *Service) clock() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// CreateFlowRun creates run with its proposed initial state in run.State
// (nil: Pending), which goes through the forced policy as in Prefect; a
// repeated idempotency key returns the existing run with created=false.
func (s *Service) CreateFlowRun(ctx context.Context, run schema.FlowRun) (schema.FlowRun, bool, error) {
	stored, created, err := s.store.CreateFlowRun(ctx, s.withInitialState(run))
	if err != nil || !created || stored.State == nil {
		return stored, created, err
	}
	s.afterFlowRunTransition(ctx, stored, nil, *stored.State)
	return stored, true, nil
}

// CreateScheduledRuns inserts the scheduler's runs, each with its proposed
// Scheduled state in run.State, skipping those that exist, and reports how
// many it inserted. As in Prefect's scheduler, they emit no events.
func (s *Service) CreateScheduledRuns(ctx context.Context, runs []schema.FlowRun) (int, error) {
	out := make([]schema.FlowRun, len(runs))
	for i, run := range runs {
		out[i] = s.withInitialState(run)
	}
	return s.store.InsertScheduledRuns(ctx, out)
}

// withInitialState applies the forced policy to a new run's proposed state
// (its bookkeeping fields: state fields, expected and next start times).
func (s *Service) withInitialState(run schema.FlowRun) schema.FlowRun {
	now := s.clock()
	proposed := schema.StateCreate{Type: schema.StatePending}.ToState(now)
	if run.State != nil {
		proposed = *run.State
	}
	run.State = nil
	res := orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Proposed: proposed, Force: true, Now: now})
	if res.Write == nil {
		return run
	}
	run = res.Run
	run.State = res.Write
	return run
}

// SetFlowRunState proposes t for the run: the rules decide inside the
// write transaction; a written state is followed by its event and, for a
// subflow, the same state on its parent task run.
func (s *Service) SetFlowRunState(ctx context.Context, id uuid.UUID, t schema.FlowRunTransition) (schema.TransitionResult, error) {
	now := s.clock()
	proposed := t.State.ToState(now)
	var initial *schema.State
	res, err := s.store.SetFlowRunState(ctx, id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
		initial = run.State
		if t.Skip != nil && t.Skip(run) {
			return orchestration.FlowRunResult{Result: orchestration.Result{Status: schema.StatusAbort}, Run: run}
		}
		c := orchestration.FlowRunContext{Run: run, Proposed: proposed, Force: t.Force, Now: now, Deployment: dep,
			ClientVersion: t.ClientVersion, ConcurrencySlotWait: s.cfg.ConcurrencySlotWait,
			InitialDeploymentLeaseDuration: s.cfg.InitialDeploymentLeaseDuration}
		if t.Resume {
			if run.State == nil || run.State.Type != schema.StatePaused {
				reason := "Cannot resume a flow run that is not paused."
				return orchestration.FlowRunResult{Result: orchestration.Result{Status: schema.StatusAbort,
					Details: schema.OrchestrationDetails{Type: "abort_details", Reason: &reason}}, Run: run}
			}
			c.Proposed = schema.StateCreate{Type: schema.StateRunning}.ToState(now)
			if run.State.StateDetails.PauseReschedule {
				resuming := "Resuming"
				c.Proposed = schema.StateCreate{Type: schema.StateScheduled, Name: &resuming,
					StateDetails: schema.StateDetails{ScheduledTime: &now}}.ToState(now)
			}
		}
		if t.MarkLate {
			late := "Late"
			c.Proposed = schema.StateCreate{Type: schema.StateScheduled, Name: &late,
				StateDetails: schema.StateDetails{ScheduledTime: run.NextScheduledStartTime}}.ToState(now)
			c.Policy = orchestration.MarkLateRunsPolicy
		}
		res := orchestration.FlowRun(c)
		if res.Write != nil && t.RunInput != nil {
			res.RunInput = t.RunInput
		}
		return res
	})
	if err != nil {
		return schema.TransitionResult{}, err
	}
	out := schema.TransitionResult{OrchestrationResult: schema.OrchestrationResult{State: res.Run.State, Status: res.Status,
		Details: res.Details}, Written: res.Write != nil}
	if res.Write != nil {
		s.written("flow", *res.Write)
		s.afterFlowRunTransition(ctx, res.Run, initial, *res.Write)
	}
	return out, nil
}

// afterFlowRunTransition does what follows every committed flow-run
// transition: the prefect.flow-run.<State> event, and for a subflow, a copy
// of its state on the parent's tracking task run (Prefect's
// UpdateSubflowParentTask). Failures are logged: the transition itself has
// already been recorded.
func (s *Service) afterFlowRunTransition(ctx context.Context, run schema.FlowRun, initial *schema.State, validated schema.State) {
	ctx = context.WithoutCancel(ctx)
	if s.events != nil {
		s.events.StateChanged(ctx, run, initial, validated)
	}
	if run.ParentTaskRunID == nil {
		return
	}
	proposal := schema.StateCreate{Type: validated.Type, Name: &validated.Name, Message: validated.Message,
		Data: validated.Data, StateDetails: validated.StateDetails}
	proposal.StateDetails.ChildFlowRunID = &run.ID
	proposal.StateDetails.FlowRunID = nil
	proposal.StateDetails.TaskRunID = run.ParentTaskRunID
	proposal.StateDetails.TransitionID = nil
	if _, err := s.SetTaskRunState(ctx, *run.ParentTaskRunID, schema.TaskRunTransition{State: proposal, Force: true}); err != nil {
		s.log.Warn("updating a subflow's parent task run", "flow_run_id", run.ID, "task_run_id", *run.ParentTaskRunID, "error", err)
	}
}

// CreateTaskRun creates run with its proposed initial state in run.State
// (nil: Pending) through the forced policy, or returns the run with the
// same flow run, task key and dynamic key with created=false.
func (s *Service) CreateTaskRun(ctx context.Context, run schema.TaskRun) (schema.TaskRun, bool, error) {
	now := s.clock()
	proposed := schema.StateCreate{Type: schema.StatePending}.ToState(now)
	if run.State != nil {
		proposed = *run.State
	}
	run.State = nil
	res := orchestration.TaskRun(orchestration.TaskRunContext{Run: run, Proposed: proposed, Force: true, Now: now,
		MaxCacheKeyLength: s.cfg.MaxCacheKeyLength})
	if res.Write != nil {
		run = res.Run
		run.State = res.Write
	}
	stored, created, err := s.store.CreateTaskRun(ctx, run, res.Enqueue)
	if err == nil && created && res.Enqueue != nil {
		s.enqueued(stored.TaskKey)
	}
	return stored, created, err
}

// SetTaskRunState proposes t for the task run. A RUNNING proposal with a
// cache key (and no refresh_cache) looks up the cache for the
// CacheRetrieval rule.
func (s *Service) SetTaskRunState(ctx context.Context, id uuid.UUID, t schema.TaskRunTransition) (schema.TransitionResult, error) {
	now := s.clock()
	proposed := t.State.ToState(now)
	var cacheKey *string
	if d := proposed.StateDetails; !t.Force && proposed.Type == schema.StateRunning && d.CacheKey != nil && (d.RefreshCache == nil || !*d.RefreshCache) {
		cacheKey = d.CacheKey
	}
	res, err := s.store.SetTaskRunState(ctx, id, cacheKey, func(run schema.TaskRun, fr *schema.FlowRun, cached *schema.State) orchestration.TaskRunResult {
		if t.Skip != nil && t.Skip(run) {
			return orchestration.TaskRunResult{Result: orchestration.Result{Status: schema.StatusAbort}, Run: run}
		}
		return orchestration.TaskRun(orchestration.TaskRunContext{Run: run, Proposed: proposed, Force: t.Force, Now: now,
			FlowRun: fr, CachedState: cached, MaxCacheKeyLength: s.cfg.MaxCacheKeyLength})
	})
	if err != nil {
		return schema.TransitionResult{}, err
	}
	if res.Write != nil {
		s.written("task", *res.Write)
	}
	if res.Enqueue != nil {
		s.enqueued(res.Run.TaskKey)
	}
	return schema.TransitionResult{OrchestrationResult: schema.OrchestrationResult{State: res.Run.State, Status: res.Status,
		Details: res.Details}, Written: res.Write != nil}, nil
}

func (s *Service) enqueued(taskKey string) {
	if s.cfg.Enqueued != nil {
		s.cfg.Enqueued(taskKey)
	}
}

func (s *Service) written(kind string, st schema.State) {
	if s.cfg.Written != nil {
		s.cfg.Written(kind, st)
	}
}
