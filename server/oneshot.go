package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"prefectgo.dev/prefectgo/server/backup"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/backend"
)

// The one-shot subcommands: each opens the store, does one pass of a
// background service, reports what it did, and exits; backup and restore
// copy the SQLite file instead. They are what the operator's CronJobs (and,
// for restore, its init container) run.

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

// BackupOptions are the flags of `prefect-server backup`.
type BackupOptions struct {
	// Dir is where the backups go.
	Dir string
	// Keep is how many backups stay in Dir; zero keeps them all.
	Keep int
	// TerminationLog, when that file exists, gets the report line too:
	// Kubernetes' /dev/termination-log, which the operator reads from the
	// Job's pod status (no exec into the pod, no log scraping).
	TerminationLog string
}

// Backup copies the SQLite database the settings name into o.Dir (see
// backup.Create), prunes older backups beyond o.Keep and prints one JSON
// line: the file, its size and time, and how long it took.
func Backup(ctx context.Context, s settings.Settings, o BackupOptions, out io.Writer) error {
	if o.Dir == "" {
		return errors.New("--dir is required: the directory the backups go to")
	}
	if o.Keep < 0 {
		return errors.New("--keep must be 0 (keep every backup) or more")
	}
	db, err := sqlitePath(s)
	if err != nil {
		return err
	}
	res, err := backup.Create(ctx, backup.Options{Database: db, Dir: o.Dir, Keep: o.Keep})
	if err != nil {
		return err
	}
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := out.Write(line); err != nil {
		return err
	}
	if o.TerminationLog != "" {
		if _, err := os.Stat(o.TerminationLog); err == nil {
			return os.WriteFile(o.TerminationLog, line, 0o644)
		}
	}
	return nil
}

// Restore puts the backup from in place as the SQLite database the settings
// name, only when that database does not exist yet; with ifMissing an
// existing database is left alone without error (an init container runs
// this before every server start, and only the first finds no database).
func Restore(ctx context.Context, s settings.Settings, from string, ifMissing bool, out io.Writer) error {
	if from == "" {
		return errors.New("--from is required: the backup file to restore")
	}
	db, err := sqlitePath(s)
	if err != nil {
		return err
	}
	size, err := backup.Restore(ctx, from, db)
	if ifMissing && errors.Is(err, backup.ErrExists) {
		_, err = fmt.Fprintf(out, "restore: %s exists, left as it is; %s not restored\n", db, from)
		return err
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "restore: %s restored from %s (%d bytes)\n", db, from, size)
	return err
}

// sqlitePath is the database file of a SQLite connection URL; backups are
// SQLite's alone.
func sqlitePath(s settings.Settings) (string, error) {
	t, err := backend.Parse(s.Database.ConnectionURL)
	if err != nil {
		return "", err
	}
	switch {
	case t.Dialect != "sqlite":
		return "", errors.New("backup and restore copy a SQLite database, and the database URL names PostgreSQL: " +
			"back it up with pg_dump, or with your PostgreSQL operator's backups (CloudNativePG's, for one)")
	case t.Path == ":memory:":
		return "", errors.New("the database is in memory: there is no file to back up or restore")
	}
	return t.Path, nil
}
