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

// Retention deletes the events older than PREFECT_SERVER_EVENTS_RETENTION_PERIOD.
func Retention(ctx context.Context, s settings.Settings, out io.Writer) error {
	st, err := backend.Open(ctx, DatabaseConfig(s))
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := retention(s, st).RunOnce(ctx)
	fmt.Fprintf(out, "retention: deleted %d events and %d event resources older than %s\n",
		res.Events, res.Resources, settings.FormatDuration(s.Events.RetentionPeriod))
	return err
}

func retention(s settings.Settings, st services.EventDeleter) services.Retention {
	return services.Retention{Store: st, Period: s.Events.RetentionPeriod, BatchSize: s.Services.Retention.BatchSize}
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
	res, err := scheduler(s, st, nil).Pass(ctx, false)
	fmt.Fprintf(out, "scheduler: %d deployments, %d runs created\n", res.Deployments, res.Runs)
	return err
}
