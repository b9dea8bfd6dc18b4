package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/runs"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
)

// runServices are the loops over runs, deployments and workers that serve
// runs in process: the scheduler (a full loop and a recent-deployments
// loop), late runs, pause expirations, cancellation cleanup and the foreman, each behind its Enabled
// setting with its interval from the settings table. Their transitions go
// through rs, the runs service.
func runServices(s settings.Settings, st store.Store, rs *runs.Service, log *slog.Logger) []service {
	var out []service
	loop := func(name string, every time.Duration, pass func(ctx context.Context) (int, error), what string) {
		out = append(out, services.NewLoop(name, every, func(ctx context.Context) error {
			n, err := pass(ctx)
			if n > 0 {
				log.Info(name+" pass", what, n)
			}
			return err
		}, log))
	}
	if lr := s.Services.LateRuns; lr.Enabled {
		svc := services.LateRuns{Store: st, Runs: rs, After: lr.AfterSeconds}
		loop("late-runs", lr.LoopSeconds, svc.RunOnce, "marked_late")
	}
	if pe := s.Services.PauseExpirations; pe.Enabled {
		svc := services.PauseExpirations{Store: st, Runs: rs}
		loop("pause-expirations", pe.LoopSeconds, svc.RunOnce, "failed_runs")
	}
	if cc := s.Services.CancellationCleanup; cc.Enabled {
		svc := services.CancellationCleanup{Store: st, Runs: rs}
		loop("cancellation-cleanup", cc.LoopSeconds, func(ctx context.Context) (int, error) {
			res, err := svc.RunOnce(ctx)
			return res.TaskRuns + res.Subflows, err
		}, "cancelled_runs")
	}
	if fm := s.Services.Foreman; fm.Enabled {
		svc := services.Foreman{Store: st, InactivityHeartbeatMultiple: fm.InactivityHeartbeatMultiple,
			FallbackHeartbeatInterval: fm.FallbackHeartbeatIntervalSeconds,
			DeploymentTimeout:         fm.DeploymentLastPolledTimeoutSeconds, WorkQueueTimeout: fm.WorkQueueLastPolledTimeoutSeconds}
		out = append(out, services.NewLoop("foreman", fm.LoopSeconds, func(ctx context.Context) error {
			res, err := svc.RunOnce(ctx)
			if res != (store.StaleResult{}) {
				log.Info("foreman pass", "offline_workers", res.Workers, "not_ready_work_pools", res.WorkPools,
					"not_ready_deployments", res.Deployments, "not_ready_work_queues", res.WorkQueues)
			}
			return err
		}, log))
	}
	if sch := s.Services.Scheduler; sch.Enabled {
		sc := scheduler(s, st, rs, log)
		out = append(out,
			services.NewLoop("scheduler", sch.LoopSeconds, func(ctx context.Context) error {
				res, err := sc.Pass(ctx, false)
				if res.Runs > 0 {
					log.Info("scheduler pass", "deployments", res.Deployments, "created_runs", res.Runs)
				}
				return err
			}, log),
			services.NewLoop("scheduler-recent-deployments", sch.RecentDeploymentsLoopSeconds, func(ctx context.Context) error {
				res, err := sc.Pass(ctx, true)
				if res.Runs > 0 {
					log.Info("scheduler pass over recent deployments", "deployments", res.Deployments, "created_runs", res.Runs)
				}
				return err
			}, log))
	}
	return out
}

// scheduler is the scheduler service configured from the settings.
func scheduler(s settings.Settings, st services.SchedulerStore, rs services.Runs, log *slog.Logger) services.Scheduler {
	sch := s.Services.Scheduler
	return services.Scheduler{
		Store:               st,
		Runs:                rs,
		DeploymentBatchSize: sch.DeploymentBatchSize,
		InsertBatchSize:     sch.InsertBatchSize,
		MinRuns:             sch.MinRuns,
		MaxRuns:             sch.MaxRuns,
		MinScheduledTime:    sch.MinScheduledTime,
		MaxScheduledTime:    sch.MaxScheduledTime,
		RecentWindow:        sch.RecentDeploymentsLoopSeconds + time.Second,
		Log:                 log,
	}
}

// newRuns is the runs service over st: every run creation and state change
// of the API and the services goes through it. Its flow-run events go to ev
// (nil: none).
func newRuns(s settings.Settings, st store.Store, ev events.EventEmitter, log *slog.Logger) *runs.Service {
	rst, ok := st.(runs.Store)
	if !ok {
		panic(fmt.Sprintf("the %s store cannot create runs or change their states", st.Dialect()))
	}
	var flowRunEvents runs.Events
	if ev != nil {
		flowRunEvents = events.NewFlowRunEvents(ev, st, log)
	}
	return runs.New(rst, flowRunEvents, runs.Config{
		ConcurrencySlotWait:            time.Duration(s.Deployments.ConcurrencySlotWaitSeconds * float64(time.Second)),
		InitialDeploymentLeaseDuration: s.Concurrency.InitialDeploymentLeaseDuration,
		MaxCacheKeyLength:              s.Tasks.MaxCacheKeyLength,
		Log:                            log,
	})
}
