package orchestration

import (
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// FlowRunContext is everything the flow-run rules may read.
type FlowRunContext struct {
	// Run is the run as stored; Run.State is the initial state (nil for a
	// new run).
	Run schema.FlowRun
	// Proposed is the state the client proposes, already stamped with an id
	// and timestamp (schema.StateCreate.ToState).
	Proposed schema.State
	// Force selects the minimal policy (no core rules), as Prefect does for
	// force=true and for a run's initial state.
	Force bool
	// Policy selects another of Prefect's flow policies; the zero value is
	// CoreFlowPolicy (MinimalFlowPolicy with Force).
	Policy FlowPolicy
	Now    time.Time
}

// FlowPolicy names one of Prefect's flow-run policies.
type FlowPolicy int

const (
	// CoreFlowPolicy is the policy of set_state (the default).
	CoreFlowPolicy FlowPolicy = iota
	// MarkLateRunsPolicy is the late-runs service's policy: only a
	// Scheduled run not already Late may become Late.
	MarkLateRunsPolicy
)

// TaskRunContext is everything the task-run rules may read.
type TaskRunContext struct {
	Run      schema.TaskRun
	Proposed schema.State
	Force    bool
	Now      time.Time
	// FlowRun is the task's parent flow run, nil for a task without one.
	FlowRun *schema.FlowRun
	// CachedState is the newest unexpired cached state for the proposed
	// state's cache_key, looked up by the store when the proposal is RUNNING
	// with a cache key and no refresh_cache; nil otherwise.
	CachedState *schema.State
	// MaxCacheKeyLength is PREFECT_SERVER_TASKS_MAX_CACHE_KEY_LENGTH.
	MaxCacheKeyLength int
}

// Result is the verdict of the rules.
type Result struct {
	Status  schema.OrchestrationStatus
	Details schema.OrchestrationDetails
	// Write is the state to record: the proposed one (possibly renamed or
	// altered), or a replacement chosen by a REJECT. Nil when nothing is
	// written (WAIT, ABORT, or a REJECT that keeps the current state); the
	// client then gets the run's current state back.
	Write *schema.State
}

// FlowRunResult is a verdict plus the run as it must be stored afterwards.
type FlowRunResult struct {
	Result
	// Run is the run with every bookkeeping field updated for Write (state
	// fields, run_count, times, empirical_policy). When Write is nil it
	// usually equals the input run, but not always: as in Prefect, a rule
	// may update empirical_policy without a state being written (a rejected
	// attempt to leave PAUSED still marks the run resuming), so the store
	// should save Run whenever it differs.
	Run schema.FlowRun
}

// TaskRunResult is a verdict plus the task run as it must be stored afterwards.
type TaskRunResult struct {
	Result
	Run schema.TaskRun
	// Cache is set when the written state must be recorded in the task-run
	// state cache (a COMPLETED state with a cache key).
	Cache *CacheEntry
}

// CacheEntry is a row of the task-run state cache.
type CacheEntry struct {
	Key        string
	Expiration *time.Time
}
