package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/automations/actions"
	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/events/pgfanout"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/metrics"
	"prefectgo.dev/prefectgo/server/runs"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/taskworkers"
)

// serviceSpec is one background service: when it runs, how often, where,
// and how it is built. Exactly one of build (a service driven by events) and
// pass (one pass of a timed loop, run every every) is set.
type serviceSpec struct {
	name    string
	enabled func(w *wiring) bool
	every   func(s settings.Settings) time.Duration
	// leader: a singleton run by the elector on one replica at a time;
	// otherwise it runs on every replica.
	leader bool
	build  func(w *wiring) service
	pass   func(w *wiring) func(ctx context.Context) error
}

// serviceTable is every background service of the serve command. New starts
// the per-replica ones in this order (and stops them in reverse), then the
// singletons under the elector.
var serviceTable = []serviceSpec{
	// Per replica: each replica relays and consumes the events it sees.
	{name: "event-fanout", enabled: func(w *wiring) bool { return w.fanout != nil },
		build: func(w *wiring) service { return w.fanout }},
	{name: "event-persister", enabled: on(func(s settings.Settings) bool { return s.Services.EventPersister.Enabled }),
		build: buildPersister},
	{name: "task-run-recorder", enabled: on(func(s settings.Settings) bool { return s.Services.TaskRunRecorder.Enabled }),
		build: buildRecorder},
	// Each replica looks for the queued runs of the task workers subscribed to it.
	{name: "task-worker-poll", enabled: on(func(settings.Settings) bool { return true }),
		every: func(settings.Settings) time.Duration { return taskworkers.PollInterval },
		pass:  func(w *wiring) func(context.Context) error { return w.taskWorkers.Poll }},

	// Singletons, run by the leader.
	{name: "retention", leader: true,
		enabled: on(func(s settings.Settings) bool {
			return s.Services.Retention.Enabled && s.Services.DBVacuum.VacuumEnabled("events")
		}),
		every: func(s settings.Settings) time.Duration { return s.Services.Retention.LoopSeconds },
		pass:  retentionPass},
	{name: "db-vacuum", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.DBVacuum.VacuumEnabled("flow_runs") }),
		every:   func(s settings.Settings) time.Duration { return s.Services.DBVacuum.LoopSeconds },
		pass:    vacuumPass},
	{name: "repossessor", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.Repossessor.Enabled }),
		every:   func(s settings.Settings) time.Duration { return s.Services.Repossessor.LoopSeconds },
		pass:    repossessorPass},
	{name: "late-runs", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.LateRuns.Enabled }),
		every:   func(s settings.Settings) time.Duration { return s.Services.LateRuns.LoopSeconds },
		pass:    lateRunsPass},
	{name: "pause-expirations", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.PauseExpirations.Enabled }),
		every:   func(s settings.Settings) time.Duration { return s.Services.PauseExpirations.LoopSeconds },
		pass:    pauseExpirationsPass},
	{name: "cancellation-cleanup", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.CancellationCleanup.Enabled }),
		every:   func(s settings.Settings) time.Duration { return s.Services.CancellationCleanup.LoopSeconds },
		pass:    cancellationCleanupPass},
	{name: "foreman", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.Foreman.Enabled }),
		every:   func(s settings.Settings) time.Duration { return s.Services.Foreman.LoopSeconds },
		pass:    foremanPass},
	{name: "scheduler", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.Scheduler.Enabled }),
		every:   func(s settings.Settings) time.Duration { return s.Services.Scheduler.LoopSeconds },
		pass:    schedulerPass(false)},
	{name: "scheduler-recent-deployments", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.Scheduler.Enabled }),
		every:   func(s settings.Settings) time.Duration { return s.Services.Scheduler.RecentDeploymentsLoopSeconds },
		pass:    schedulerPass(true)},
	{name: "triggers", leader: true,
		enabled: on(func(s settings.Settings) bool { return s.Services.Triggers.Enabled }),
		build:   buildTriggers},
}

// wiring is what the services are built from.
type wiring struct {
	s      settings.Settings
	st     store.Store
	broker *events.Broker
	fanout *pgfanout.Fanout // nil unless replicas share events over PostgreSQL
	// runs is nil while the per-replica services are built: the ingestor,
	// and so the runs service, needs them first.
	runs *runs.Service
	log  *slog.Logger
	// metrics is nil unless PREFECT_SERVER_METRICS_ENABLED.
	metrics *metrics.Metrics
	// ingestor and api, like runs, are set before the leader's services
	// are built: the automations emit events and act through the API.
	ingestor *events.Ingestor
	api      http.Handler
	// taskWorkers serves this replica's task workers.
	taskWorkers *taskworkers.Hub
}

// on is an enabled check that reads only the settings.
func on(f func(settings.Settings) bool) func(*wiring) bool {
	return func(w *wiring) bool { return f(w.s) }
}

// buildServices builds the enabled services of the table that run on the
// leader (leader) or on every replica (!leader), in table order.
func buildServices(w *wiring, leader bool) []service {
	var out []service
	for _, sp := range serviceTable {
		if sp.leader != leader || !sp.enabled(w) {
			continue
		}
		if sp.build != nil {
			out = append(out, sp.build(w))
			continue
		}
		out = append(out, services.NewLoop(sp.name, sp.every(w.s), measured(w.metrics, sp.name, sp.pass(w)), w.log))
	}
	return out
}

func buildPersister(w *wiring) service {
	es := w.s.Services.EventPersister
	return events.NewPersister(w.broker, w.st, events.PersisterConfig{BatchSize: es.BatchSize, QueueSize: es.QueueMaxSize, FlushInterval: es.FlushInterval}, w.log)
}

// buildTriggers is the automations' evaluation and their actions, which
// call the server's own API in process as Prefect's call theirs.
func buildTriggers(w *wiring) service {
	actor := &actions.Actor{API: w.api, BasePath: w.s.API.BasePath, Auth: w.s.API.AuthString, Internal: httpapi.Internal,
		Events: w.ingestor, UIURL: uiURL(w.s), Log: w.log}
	return &services.Triggers{
		Store:               w.st,
		Source:              func() services.EventSource { return w.broker.Subscribe("triggers", triggersQueue) },
		Sink:                w.ingestor,
		Actor:               actor,
		Granularity:         w.s.Events.ProactiveGranularity,
		ExpiredBucketBuffer: w.s.Events.ExpiredBucketBuffer,
		Log:                 w.log,
	}
}

// uiURL is where the UI is for the templates' ui_url filter: the UI's API
// URL without its /api, as Prefect derives PREFECT_UI_URL from
// PREFECT_API_URL; empty (the filter renders None) when it is relative or unset.
func uiURL(s settings.Settings) string {
	u := strings.TrimSuffix(strings.TrimSuffix(s.UI.APIURL, "/"), "/api")
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return ""
	}
	return u
}

// triggersQueue is how many events the evaluation may fall behind the
// stream before publishing waits for it.
const triggersQueue = 10_000

func buildRecorder(w *wiring) service {
	return events.NewRecorder(w.broker, w.st, events.RecorderConfig{BatchSize: w.s.Services.TaskRunRecorder.BatchSize}, w.log)
}

func retentionPass(w *wiring) func(context.Context) error {
	r := retention(w.s, w.st)
	return func(ctx context.Context) error {
		res, err := r.RunOnce(ctx)
		if res.Events > 0 {
			w.log.Info("retention pass", "deleted_events", res.Events, "deleted_resources", res.Resources)
		}
		return err
	}
}

func vacuumPass(w *wiring) func(context.Context) error {
	v := vacuum(w.s, w.st)
	return func(ctx context.Context) error {
		res, err := v.RunOnce(ctx)
		if res != (services.VacuumResult{}) {
			w.log.Info("db vacuum pass", "deleted_flow_runs", res.FlowRuns, "deleted_logs", res.Logs, "deleted_artifacts", res.Artifacts)
		}
		return err
	}
}

func repossessorPass(w *wiring) func(context.Context) error {
	r := services.Repossessor{Store: w.st, Waits: store.SlotWaits{
		Tag: w.s.Tasks.TagConcurrencySlotWaitSeconds, Max: w.s.Concurrency.MaximumConcurrencySlotWaitSeconds}}
	return counted(w.log, "repossessor", "reclaimed_leases", r.RunOnce)
}

func lateRunsPass(w *wiring) func(context.Context) error {
	svc := services.LateRuns{Store: w.st, Runs: w.runs, After: w.s.Services.LateRuns.AfterSeconds}
	return counted(w.log, "late-runs", "marked_late", svc.RunOnce)
}

func pauseExpirationsPass(w *wiring) func(context.Context) error {
	svc := services.PauseExpirations{Store: w.st, Runs: w.runs}
	return counted(w.log, "pause-expirations", "failed_runs", svc.RunOnce)
}

func cancellationCleanupPass(w *wiring) func(context.Context) error {
	svc := services.CancellationCleanup{Store: w.st, Runs: w.runs}
	return counted(w.log, "cancellation-cleanup", "cancelled_runs", func(ctx context.Context) (int, error) {
		res, err := svc.RunOnce(ctx)
		return res.TaskRuns + res.Subflows, err
	})
}

func foremanPass(w *wiring) func(context.Context) error {
	fm := w.s.Services.Foreman
	svc := services.Foreman{Store: w.st, InactivityHeartbeatMultiple: fm.InactivityHeartbeatMultiple,
		FallbackHeartbeatInterval: fm.FallbackHeartbeatIntervalSeconds,
		DeploymentTimeout:         fm.DeploymentLastPolledTimeoutSeconds, WorkQueueTimeout: fm.WorkQueueLastPolledTimeoutSeconds}
	return func(ctx context.Context) error {
		res, err := svc.RunOnce(ctx)
		if res != (store.StaleResult{}) {
			w.log.Info("foreman pass", "offline_workers", res.Workers, "not_ready_work_pools", res.WorkPools,
				"not_ready_deployments", res.Deployments, "not_ready_work_queues", res.WorkQueues)
		}
		return err
	}
}

// schedulerPass is a pass of the scheduler over every deployment, or, when
// recent, over the deployments updated within its recent window.
func schedulerPass(recent bool) func(w *wiring) func(context.Context) error {
	msg := "scheduler pass"
	if recent {
		msg = "scheduler pass over recent deployments"
	}
	return func(w *wiring) func(context.Context) error {
		sc := scheduler(w.s, w.st, w.runs, w.log)
		return func(ctx context.Context) error {
			res, err := sc.Pass(ctx, recent)
			w.metrics.ScheduledRuns(res.Runs)
			if res.Runs > 0 {
				w.log.Info(msg, "deployments", res.Deployments, "created_runs", res.Runs)
			}
			return err
		}
	}
}

// measured is a pass whose duration and outcome go to the metrics.
func measured(m *metrics.Metrics, name string, pass func(context.Context) error) func(context.Context) error {
	if m == nil {
		return pass
	}
	return func(ctx context.Context) error {
		start := time.Now()
		err := pass(ctx)
		m.Pass(name, time.Since(start), err)
		return err
	}
}

// counted is a pass that logs how many items it changed, when any.
func counted(log *slog.Logger, name, what string, pass func(ctx context.Context) (int, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		n, err := pass(ctx)
		if n > 0 {
			log.Info(name+" pass", what, n)
		}
		return err
	}
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
func newRuns(s settings.Settings, st store.Store, ev events.EventEmitter, m *metrics.Metrics, tw *taskworkers.Hub, log *slog.Logger) *runs.Service {
	rst, ok := st.(runs.Store)
	if !ok {
		panic(fmt.Sprintf("the %s store cannot create runs or change their states", st.Dialect()))
	}
	var flowRunEvents runs.Events
	if ev != nil {
		flowRunEvents = events.NewFlowRunEvents(ev, st, log)
	}
	// Without a hub here (a one-shot command), the serving replicas' polls
	// find what is queued.
	var enqueued func(taskKey string)
	if tw != nil {
		enqueued = tw.Wake
	}
	return runs.New(rst, flowRunEvents, runs.Config{
		ConcurrencySlotWait:            time.Duration(s.Deployments.ConcurrencySlotWaitSeconds * float64(time.Second)),
		InitialDeploymentLeaseDuration: s.Concurrency.InitialDeploymentLeaseDuration,
		MaxCacheKeyLength:              s.Tasks.MaxCacheKeyLength,
		Log:                            log,
		Written:                        func(kind string, st schema.State) { m.Transition(kind, string(st.Type)) },
		Enqueued:                       enqueued,
	})
}
