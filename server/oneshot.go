package server

import (
	"context"
	"fmt"
	"io"

	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/backend"
)

// The one-shot subcommands: each opens the store, does one pass of a
// background service, reports what it did, and exits. They are what the
// operator's CronJobs run.

// Retention deletes the events older than PREFECT_SERVER_EVENTS_RETENTION_PERIOD
// and, when PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED includes flow_runs, the
// flow runs that finished before PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD.
func Retention(ctx context.Context, s settings.Settings, out io.Writer) error {
	st, err := backend.Open(ctx, DatabaseConfig(s))
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := retention(s, st).RunOnce(ctx)
	fmt.Fprintf(out, "retention: deleted %d events and %d event resources older than %s\n",
		res.Events, res.Resources, settings.FormatDuration(s.Events.RetentionPeriod))
	if err != nil || !s.Services.DBVacuum.VacuumEnabled("flow_runs") {
		return err
	}
	v, err := vacuum(s, st).RunOnce(ctx)
	fmt.Fprintf(out, "db vacuum: deleted %d flow runs that ended more than %s ago, %d orphaned logs and %d orphaned artifacts\n",
		v.FlowRuns, settings.FormatDuration(s.Services.DBVacuum.RetentionPeriod), v.Logs, v.Artifacts)
	return err
}

func retention(s settings.Settings, st services.EventDeleter) services.Retention {
	return services.Retention{Store: st, Period: s.Events.RetentionPeriod, BatchSize: s.Services.Retention.BatchSize}
}

func vacuum(s settings.Settings, st services.FlowRunDeleter) services.FlowRunVacuum {
	return services.FlowRunVacuum{Store: st, Period: s.Services.DBVacuum.RetentionPeriod, BatchSize: s.Services.DBVacuum.BatchSize}
}

// Schedule does one full scheduler pass: every deployment whose schedules
// need runs gets them. It is safe beside the in-process loops and other
// replicas.
func Schedule(ctx context.Context, s settings.Settings, out io.Writer) error {
	st, err := backend.Open(ctx, DatabaseConfig(s))
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := scheduler(s, st, newRuns(s, st, nil, nil, nil, nil), nil).Pass(ctx, false)
	fmt.Fprintf(out, "scheduler: %d deployments, %d runs created\n", res.Deployments, res.Runs)
	return err
}
