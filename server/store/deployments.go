package store

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Deployments are unique by (flow, name) and own their schedules. A
// deployment's work pool and queue are given by name and resolved on write:
// a missing pool is a *schema.NotFoundError, a missing queue of an existing
// pool is created.
//
// Writes that change what a deployment would schedule delete its future
// auto-scheduled runs that are still SCHEDULED and have never run (runs
// waiting for a concurrency slot stay), so the scheduler makes them again.
type Deployments interface {
	// UpsertDeployment creates the deployment, or updates the fields d sets
	// on the existing one (created=false). Either way the schedules are
	// replaced by d's.
	UpsertDeployment(ctx context.Context, d schema.DeploymentCreate) (dep schema.Deployment, created bool, err error)
	ReadDeployment(ctx context.Context, id uuid.UUID) (schema.Deployment, error)
	ReadDeploymentByName(ctx context.Context, flowName, name string) (schema.Deployment, error)
	FilterDeployments(ctx context.Context, q schema.DeploymentQuery) ([]schema.Deployment, error)
	CountDeployments(ctx context.Context, q schema.DeploymentQuery) (int, error)
	// CountDeploymentsByFlow counts the deployments of each flow that has any.
	CountDeploymentsByFlow(ctx context.Context, flowIDs []uuid.UUID) (map[uuid.UUID]int, error)
	// UpdateDeployment changes the fields u sets. Sent schedules replace the
	// deployment's, unless every sent and every existing schedule has a
	// slug: then they update the schedules with those slugs (or the slug
	// they replace) and add the others.
	UpdateDeployment(ctx context.Context, id uuid.UUID, u schema.DeploymentUpdate) error
	// DeleteDeployment deletes the deployment, its schedules, its
	// SCHEDULED runs that never ran and the automations it owns.
	DeleteDeployment(ctx context.Context, id uuid.UUID) error
	// SetDeploymentPaused pauses or resumes; pausing deletes the
	// deployment's auto-scheduled runs that are still SCHEDULED.
	SetDeploymentPaused(ctx context.Context, id uuid.UUID, paused bool) error
	// MarkDeploymentsReady records a poll now: READY and last_polled, with
	// updated left alone (the scheduler watches updated).
	MarkDeploymentsReady(ctx context.Context, ids []uuid.UUID) error

	// ReadDeploymentSchedules lists a deployment's schedules, most recently
	// updated first.
	ReadDeploymentSchedules(ctx context.Context, deploymentID uuid.UUID) ([]schema.DeploymentSchedule, error)
	// CreateDeploymentSchedules adds schedules; a slug taken in the
	// deployment is a *schema.ConflictError.
	CreateDeploymentSchedules(ctx context.Context, deploymentID uuid.UUID, s []schema.DeploymentScheduleCreate) ([]schema.DeploymentSchedule, error)
	// UpdateDeploymentSchedule changes the fields u sets and deletes the
	// schedule's future auto-scheduled runs.
	UpdateDeploymentSchedule(ctx context.Context, deploymentID, scheduleID uuid.UUID, u schema.DeploymentScheduleUpdate) error
	// DeleteDeploymentSchedule deletes a schedule and its future
	// auto-scheduled runs.
	DeleteDeploymentSchedule(ctx context.Context, deploymentID, scheduleID uuid.UUID) error
}
