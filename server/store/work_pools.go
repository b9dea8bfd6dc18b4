package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// WorkPools are pools of infrastructure, unique by name, with their queues
// (unique by name within a pool) and the workers that poll them. Lookups by
// name that miss return a *schema.NotFoundError naming the pool or queue in
// Prefect's words (it matches schema.ErrNotFound).
type WorkPools interface {
	// CreateWorkPool inserts a pool with its "default" queue, NOT_READY (or
	// PAUSED); a taken name is a *schema.ConflictError.
	CreateWorkPool(ctx context.Context, p schema.WorkPoolCreate) (schema.WorkPool, error)
	ReadWorkPool(ctx context.Context, id uuid.UUID) (schema.WorkPool, error)
	ReadWorkPoolByName(ctx context.Context, name string) (schema.WorkPool, error)
	// FilterWorkPools returns the pools matching q, by name.
	FilterWorkPools(ctx context.Context, q schema.WorkPoolQuery) ([]schema.WorkPool, error)
	CountWorkPools(ctx context.Context, q schema.WorkPoolQuery) (int, error)
	// UpdateWorkPool changes the fields u sets. Pausing makes the pool
	// PAUSED; unpausing makes it READY when a worker is online, NOT_READY
	// otherwise.
	UpdateWorkPool(ctx context.Context, name string, u schema.WorkPoolUpdate) error
	// DeleteWorkPool deletes the pool with its queues and workers; runs and
	// deployments in its queues lose their queue.
	DeleteWorkPool(ctx context.Context, name string) error

	// CreateWorkQueue adds a queue to the pool. Without a priority it takes
	// the first free one; with one, the queues at or after it move down. A
	// taken name is a *schema.ConflictError.
	CreateWorkQueue(ctx context.Context, pool string, q schema.WorkQueueCreate) (schema.WorkQueue, error)
	ReadWorkQueue(ctx context.Context, id uuid.UUID) (schema.WorkQueue, error)
	ReadWorkQueueByName(ctx context.Context, pool, name string) (schema.WorkQueue, error)
	// EnsureWorkQueue returns the pool's queue named name, creating it if
	// needed (the pool must exist).
	EnsureWorkQueue(ctx context.Context, pool, name string) (schema.WorkQueue, error)
	// FilterWorkQueues returns the pool's queues matching q by priority, or
	// with pool "" every pool's queues by name (the legacy /work_queues/).
	FilterWorkQueues(ctx context.Context, pool string, q schema.WorkQueueQuery) ([]schema.WorkQueue, error)
	// UpdateWorkQueue changes the fields u sets; pausing makes the queue
	// PAUSED, unpausing READY if it was polled in the last minute, else NOT_READY.
	UpdateWorkQueue(ctx context.Context, id uuid.UUID, u schema.WorkQueueUpdate) error
	// DeleteWorkQueue deletes a queue; a pool's default queue cannot be
	// deleted (*schema.ConflictError).
	DeleteWorkQueue(ctx context.Context, id uuid.UUID) error

	// WorkerHeartbeat upserts the pool's worker as ONLINE now and makes a
	// NOT_READY pool READY.
	WorkerHeartbeat(ctx context.Context, pool, name string, heartbeatIntervalSeconds *int) error
	// FilterWorkers returns the pool's workers, latest heartbeat first.
	FilterWorkers(ctx context.Context, pool string, q schema.WorkerQuery) ([]schema.Worker, error)
	DeleteWorker(ctx context.Context, pool, name string) error

	// GetScheduledFlowRuns returns the SCHEDULED runs a worker may take
	// from the pool's unpaused queues, within the pool's and each queue's
	// free concurrency slots, highest-priority queue first and then by
	// scheduled time. Runs a live process will retry (retry_type
	// "in_process") are left out.
	GetScheduledFlowRuns(ctx context.Context, q schema.ScheduledRunsQuery) ([]schema.WorkerFlowRun, error)
	// MarkWorkQueuesPolled records a poll of the queues now: NOT_READY
	// queues become READY, and the queues' deployments READY.
	MarkWorkQueuesPolled(ctx context.Context, queueIDs []uuid.UUID) error

	// WorkQueueDepths are every work queue's SCHEDULED runs: how many, and
	// the earliest next scheduled start among them.
	WorkQueueDepths(ctx context.Context) ([]WorkQueueDepth, error)

	// CountSlotHolders counts the runs holding slots of q's pool or queue,
	// by work queue id (the runs a queue holds by name alone under nil).
	CountSlotHolders(ctx context.Context, q SlotHolders) (map[uuid.UUID]int, error)
	// ReadSlotHolders reads them, by id: with PerQueue, at most that many of
	// each queue; otherwise the page Offset, Limit.
	ReadSlotHolders(ctx context.Context, q SlotHolders) ([]SlotHolder, error)
}

// WorkQueueDepth is one work queue's waiting runs.
type WorkQueueDepth struct {
	Pool, Queue string
	Scheduled   int
	Earliest    *time.Time
}

// SlotHolders selects the flow runs holding concurrency slots, as the work
// pool scheduler counts them for a pool (PENDING or RUNNING, in one of its
// queues by id) and the work queue scheduler for a queue (PENDING, RUNNING
// or CANCELLING, in it by id, or by name when the run has no queue id).
// Exactly one of PoolID and QueueID is set.
type SlotHolders struct {
	PoolID  *uuid.UUID
	QueueID *uuid.UUID
	// QueueIDs narrows a pool's runs to these queues.
	QueueIDs []uuid.UUID
	PerQueue int
	Offset   int
	Limit    int
}

// SlotHolder is one run holding a slot, and the queue it holds it in.
type SlotHolder struct {
	QueueID *uuid.UUID
	schema.FlowRunSlotSummary
}
