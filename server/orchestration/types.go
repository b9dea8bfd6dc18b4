package orchestration

import (
	"time"

	"github.com/google/uuid"

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

	// Deployment is the run's deployment concurrency, nil for a run without
	// a deployment (the store loads it; see DeploymentConcurrency).
	Deployment *DeploymentConcurrency
	// ClientVersion is the Prefect client's version from its User-Agent,
	// nil when unknown (Prefect then assumes an old client).
	ClientVersion *[3]int
	// ConcurrencySlotWait is PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS
	// (30 s when zero): how far AwaitingConcurrencySlot is scheduled ahead.
	ConcurrencySlotWait time.Duration
	// InitialDeploymentLeaseDuration is
	// PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION (300 s
	// when zero), the lease ttl when the deployment sets no grace period.
	InitialDeploymentLeaseDuration time.Duration
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
	// Deployment lists the slot and lease changes the store must apply in
	// the same transaction.
	Deployment DeploymentEffects
	// RunInput is an input to store with Write, in the same transaction.
	RunInput *schema.FlowRunInput
}

// TaskRunResult is a verdict plus the task run as it must be stored afterwards.
type TaskRunResult struct {
	Result
	Run schema.TaskRun
	// Cache is set when the written state must be recorded in the task-run
	// state cache (a COMPLETED state with a cache key).
	Cache *CacheEntry
	// Enqueue is set when the written state puts the run in the queue of
	// the task workers, with the state in the same transaction.
	Enqueue *TaskRunEnqueue
}

// TaskRunEnqueue asks for a background task run to be queued for the task
// workers subscribed to its task key (Prefect's EnqueueScheduledTasks).
type TaskRunEnqueue struct {
	// Retry puts it ahead of the runs scheduled for the first time, as
	// Prefect's retry queue is read first (an AwaitingRetry state).
	Retry bool
}

// CacheEntry is a row of the task-run state cache.
type CacheEntry struct {
	Key        string
	Expiration *time.Time
}

// DeploymentConcurrency is what the deployment concurrency rules read about
// a run's deployment, loaded by the store inside the transition's
// transaction (with the deployment's limit row locked, so SlotAvailable
// holds until the store applies the effects).
type DeploymentConcurrency struct {
	// Missing says the run names a deployment that no longer exists.
	Missing bool
	// Limit is the deployment's active v2 limit ("deployment:<id>"); nil
	// when the deployment has none (or it is inactive).
	Limit *int
	// CollisionStrategy is concurrency_options.collision_strategy; empty
	// means ENQUEUE, Prefect's default.
	CollisionStrategy string
	// GracePeriodSeconds is concurrency_options.grace_period_seconds.
	GracePeriodSeconds *int
	// SlotAvailable says one more slot of Limit is free.
	SlotAvailable bool
	// LeaseAlive says the lease named by the initial state's
	// deployment_concurrency_lease_id exists and has not expired.
	LeaseAlive bool
}

// DeploymentEffects are the slot and lease changes the deployment
// concurrency rules ask the store to make in the transition's transaction.
// At most one of Acquire, Renew and Pin is set.
type DeploymentEffects struct {
	// Acquire takes one slot of the deployment's limit and records a lease
	// with this id holding it (the id is already in the written state).
	Acquire *LeaseRequest
	// Renew moves the unexpired lease's expiration to now+TTL.
	Renew *LeaseRequest
	// Pin keeps the lease's slot for the rest of the run but stops it
	// expiring: an old client cannot renew it (Prefect revokes the lease
	// and keeps the slot; see removeDeploymentConcurrencyLeaseForOldClients).
	Pin *uuid.UUID
	// Release deletes the lease, if it still exists, giving its slots back.
	Release *uuid.UUID
}

// LeaseRequest names a deployment lease and its time to live.
type LeaseRequest struct {
	LeaseID uuid.UUID
	TTL     time.Duration
}

// Any reports whether there is something to apply.
func (e DeploymentEffects) Any() bool {
	return e.Acquire != nil || e.Renew != nil || e.Pin != nil || e.Release != nil
}

// FlowRunDecider decides a state transition for the run as read inside the
// store's write transaction (FlowRun with the proposal bound). dep is the
// run's deployment concurrency as the store loaded it (nil for a run without
// a deployment), for FlowRunContext.Deployment; the store applies the
// result's Deployment effects in the same transaction, and may call the
// decider again when it finds the facts changed.
type FlowRunDecider func(run schema.FlowRun, dep *DeploymentConcurrency) FlowRunResult

// TaskRunDecider decides a task-run transition from the run, its parent
// flow run (nil when none) and the cached state for the lookup key (nil when
// none was asked for or found).
type TaskRunDecider func(run schema.TaskRun, flowRun *schema.FlowRun, cached *schema.State) TaskRunResult
