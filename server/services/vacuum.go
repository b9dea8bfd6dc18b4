package services

import (
	"context"
	"time"
)

// FlowRunVacuum is Prefect's db vacuum of flow runs: it deletes top-level
// flow runs that finished more than Period ago, then the logs and artifacts
// left pointing at deleted runs, batch by batch. It is off by default
// (PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED must include flow_runs) because
// it deletes run history for good.
type FlowRunVacuum struct {
	Store  FlowRunDeleter
	Period time.Duration
	// BatchSize is the number of rows deleted per transaction.
	BatchSize int
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
}

// FlowRunDeleter is the part of the store the vacuum needs.
type FlowRunDeleter interface {
	DeleteFlowRunsEndedBefore(ctx context.Context, cutoff time.Time, limit int) (int, error)
	DeleteOrphanedLogs(ctx context.Context, limit int) (int, error)
	DeleteOrphanedArtifacts(ctx context.Context, limit int) (int, error)
}

// VacuumResult counts what one pass deleted.
type VacuumResult struct {
	FlowRuns  int
	Logs      int
	Artifacts int
}

// RunOnce does one pass. Runs go first, so the orphan sweeps that follow
// also collect the logs and artifacts of the runs this pass deleted.
func (v FlowRunVacuum) RunOnce(ctx context.Context) (VacuumResult, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	cutoff := now().UTC().Add(-v.Period)
	var res VacuumResult
	steps := []struct {
		count  *int
		delete func(ctx context.Context, limit int) (int, error)
	}{
		{&res.FlowRuns, func(ctx context.Context, limit int) (int, error) {
			return v.Store.DeleteFlowRunsEndedBefore(ctx, cutoff, limit)
		}},
		{&res.Logs, v.Store.DeleteOrphanedLogs},
		{&res.Artifacts, v.Store.DeleteOrphanedArtifacts},
	}
	for _, step := range steps {
		if err := drain(ctx, max(v.BatchSize, 1), step.count, step.delete); err != nil {
			return res, err
		}
	}
	return res, nil
}

// drain calls del until a batch comes back short, adding what it deleted to
// count, and stops between batches when ctx is done.
func drain(ctx context.Context, batch int, count *int, del func(ctx context.Context, limit int) (int, error)) error {
	for {
		n, err := del(ctx, batch)
		*count += n
		if err != nil || n < batch {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
