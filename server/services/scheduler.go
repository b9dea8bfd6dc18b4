package services

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schedules"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// SchedulerStore is the part of the store the scheduler needs.
type SchedulerStore interface {
	store.Scheduling
	ReadDeployment(ctx context.Context, id uuid.UUID) (schema.Deployment, error)
}

// Scheduler makes the future runs of deployment schedules, with the
// semantics of Prefect's scheduler service (server/services/scheduler.py and
// models/deployments.py _generate_scheduled_flow_runs): every active
// schedule of every deployment that is not paused gets runs from now on,
// up to MaxRuns (or the schedule's max_scheduled_runs) and no further than
// now+MaxScheduledTime, stopping once it has both MinRuns runs and one at
// or after now+MinScheduledTime.
//
// Passes are idempotent and safe to run at once (two loops, replicas, the
// one-shot command): a run's idempotency key is
// "scheduled {deployment_id} {schedule_id} {date}", and the store inserts a
// key once.
type Scheduler struct {
	Store SchedulerStore
	// Runs inserts the runs (the runs service).
	Runs Runs
	// DeploymentBatchSize deployments are read per query, and runs are
	// inserted InsertBatchSize per transaction.
	DeploymentBatchSize int
	InsertBatchSize     int
	MinRuns             int
	MaxRuns             int
	MinScheduledTime    time.Duration
	MaxScheduledTime    time.Duration
	// RecentWindow is how far back a recent pass looks for changed
	// deployments (the recent loop's interval plus a second, as Prefect).
	RecentWindow time.Duration
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
	Log *slog.Logger
}

// SchedulerResult counts what a pass did.
type SchedulerResult struct {
	// Deployments is how many deployments the pass visited.
	Deployments int
	// Runs is how many runs it created.
	Runs int
}

// RunOnce does a full pass: every deployment with a schedule that needs
// runs. It returns how many runs it created.
func (s Scheduler) RunOnce(ctx context.Context) (created int, err error) {
	res, err := s.Pass(ctx, false)
	return res.Runs, err
}

// RunRecent does a pass over the deployments changed in the last
// RecentWindow, so that new and updated deployments get runs within
// seconds.
func (s Scheduler) RunRecent(ctx context.Context) (created int, err error) {
	res, err := s.Pass(ctx, true)
	return res.Runs, err
}

// Pass does a full pass, or with recent a pass over recently changed
// deployments.
func (s Scheduler) Pass(ctx context.Context, recent bool) (SchedulerResult, error) {
	var res SchedulerResult
	batch := max(s.DeploymentBatchSize, 1)
	var after *uuid.UUID
	for {
		now := s.now()
		q := store.DeploymentsToSchedule{Now: now, MinRuns: s.MinRuns, MinScheduledTime: s.MinScheduledTime,
			After: after, Limit: batch}
		if recent {
			since := now.Add(-s.RecentWindow)
			q.UpdatedSince = &since
		}
		ids, err := s.Store.DeploymentsToSchedule(ctx, q)
		if err != nil {
			return res, err
		}
		var runs []schema.FlowRun
		for _, id := range ids {
			// A stopping server (SIGTERM) ends the pass between deployments.
			if err := ctx.Err(); err != nil {
				return res, err
			}
			rs, err := s.deploymentRuns(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				// One broken deployment never stops the pass, as in Prefect.
				s.log().Error("scheduling a deployment", "deployment_id", id, "error", err)
				continue
			}
			runs = append(runs, rs...)
		}
		res.Deployments += len(ids)
		size := max(s.InsertBatchSize, 1)
		for start := 0; start < len(runs); start += size {
			n, err := s.Runs.CreateScheduledRuns(ctx, runs[start:min(start+size, len(runs))])
			res.Runs += n
			if err != nil {
				return res, err
			}
		}
		if len(ids) < batch {
			return res, nil
		}
		after = &ids[len(ids)-1]
	}
}

func (s Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s Scheduler) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// deploymentRuns makes the runs of a deployment's active schedules from
// now (not yet inserted; the store skips the ones that exist).
func (s Scheduler) deploymentRuns(ctx context.Context, id uuid.UUID) ([]schema.FlowRun, error) {
	d, err := s.Store.ReadDeployment(ctx, id)
	if errors.Is(err, schema.ErrNotFound) {
		return nil, nil // deleted since the query
	}
	if err != nil {
		return nil, err
	}
	if d.Paused {
		return nil, nil
	}
	now := s.now()
	w := schedules.Window{Start: now, End: now.Add(s.MaxScheduledTime), MinTime: s.MinScheduledTime,
		MinRuns: s.MinRuns, MaxRuns: s.MaxRuns, ScheduleCaps: true}
	runs, skipped, err := schedules.DeploymentRuns(ctx, d, w, now)
	for _, sk := range skipped {
		s.log().Error("skipping a schedule", "deployment_id", d.ID, "schedule_id", sk.ScheduleID, "error", sk.Err)
	}
	return runs, err
}
