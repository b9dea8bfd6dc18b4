package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Scheduling is what the scheduler needs beyond the deployments: which
// deployments want runs. It inserts them through the runs service
// (runs.Store's InsertScheduledRuns).
type Scheduling interface {
	// DeploymentsToSchedule returns ids of deployments to schedule, in id
	// order, after q.After (when set), at most q.Limit. Paused deployments
	// are never returned.
	DeploymentsToSchedule(ctx context.Context, q DeploymentsToSchedule) ([]uuid.UUID, error)
}

// DeploymentsToSchedule selects deployments for the scheduler.
type DeploymentsToSchedule struct {
	// Now is the scheduler's clock.
	Now time.Time
	// UpdatedSince, when set, selects the deployments updated at or after
	// it that have an active schedule (the recent-deployments loop).
	// Otherwise a deployment is selected when one of its active schedules
	// has fewer than MinRuns future auto-scheduled SCHEDULED runs, or none
	// reaching Now+MinScheduledTime (Prefect's scheduler query).
	UpdatedSince     *time.Time
	MinRuns          int
	MinScheduledTime time.Duration
	// After pages through the selection by id.
	After *uuid.UUID
	Limit int
}

// Maintenance is what the services that watch runs (late runs, pause
// expirations, cancellation cleanup) need to find them.
type Maintenance interface {
	// FlowRunIDs returns ids of the flow runs matching q, in id order.
	FlowRunIDs(ctx context.Context, q FlowRunIDs) ([]uuid.UUID, error)
}

// FlowRunIDs selects flow runs; empty fields match everything.
type FlowRunIDs struct {
	StateTypes []schema.StateType
	StateName  *string
	// ScheduledBefore keeps runs whose next scheduled start is at or before it.
	ScheduledBefore *time.Time
	// EndedSince keeps runs that ended at or after it.
	EndedSince *time.Time
	// Subflows keeps only runs with a parent task run.
	Subflows bool
	// After pages by id.
	After *uuid.UUID
	Limit int
}

// Foreman is what the foreman service needs: one pass of its rules.
type Foreman interface {
	// MarkStale marks ONLINE workers whose last heartbeat is older than
	// InactivityHeartbeatMultiple of their heartbeat interval (or of
	// FallbackHeartbeatInterval) OFFLINE; then READY pools without an
	// ONLINE worker NOT_READY; READY deployments not polled (themselves, or
	// through their work queue) within DeploymentTimeout NOT_READY; and
	// READY work queues not polled within WorkQueueTimeout NOT_READY. It
	// reports how many of each it changed.
	MarkStale(ctx context.Context, q StaleQuery) (StaleResult, error)
}

// StaleQuery holds the foreman's thresholds.
type StaleQuery struct {
	Now                         time.Time
	InactivityHeartbeatMultiple int
	FallbackHeartbeatInterval   time.Duration
	DeploymentTimeout           time.Duration
	WorkQueueTimeout            time.Duration
}

// StaleResult counts what a foreman pass changed.
type StaleResult struct {
	Workers     int
	WorkPools   int
	Deployments int
	WorkQueues  int
}
