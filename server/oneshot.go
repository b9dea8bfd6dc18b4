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

// Schedule does one scheduler pass. This server does not store deployments
// yet, so the pass finds none and says so.
func Schedule(ctx context.Context, s settings.Settings, out io.Writer) error {
	st, err := backend.Open(ctx, DatabaseConfig(s))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, "scheduler: 0 deployments, 0 runs created (this server does not support deployments yet)")
	return err
}
