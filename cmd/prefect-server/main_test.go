package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/sqlite"
	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

// An invalid setting stops the server before it starts, naming the variable
// and the value.
func TestInvalidEnvRefusesToStart(t *testing.T) {
	t.Setenv("PREFECT_SERVER_API_PORT", "seventy")
	t.Setenv("PREFECT_SERVER_API_KEEPALIVE_TIMEOUT", "-3")
	var out, errOut bytes.Buffer
	code := run([]string{"serve"}, &out, &errOut)
	require.Equal(t, 2, code)
	require.Contains(t, errOut.String(), `PREFECT_SERVER_API_PORT="seventy"`)
	require.Contains(t, errOut.String(), "PREFECT_SERVER_API_KEEPALIVE_TIMEOUT")
}

func TestSettingsCommandRedactsSecrets(t *testing.T) {
	t.Setenv("PREFECT_SERVER_API_AUTH_STRING", "admin:hunter2")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"settings"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "PREFECT_SERVER_API_PORT=4200")
	require.NotContains(t, out.String(), "hunter2")
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"bogus"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unknown command "bogus"`)
}

// The one-shot subcommands the operator's Job and CronJobs run: each does its
// pass against a fresh database and exits 0.
func TestOneShotCommands(t *testing.T) {
	t.Setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///"+t.TempDir()+"/prefect.db")
	for _, c := range []struct{ cmd, want string }{
		{"migrate", "applied migrations"},
		{"migrate", "database is up to date"},
		{"retention", "retention: deleted 0 events"},
		{"schedule", "scheduler: 0 deployments"},
	} {
		cmd, want := c.cmd, c.want
		var out, errOut bytes.Buffer
		require.Equal(t, 0, run([]string{cmd}, &out, &errOut), cmd+": "+errOut.String())
		require.Contains(t, out.String(), want, cmd)
	}

	// With flow_runs in the vacuum's kinds, retention also vacuums old runs.
	t.Setenv("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "events,flow_runs")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"retention"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "db vacuum: deleted 0 flow runs")
}

// The debug listener's /debug/sqlstore answers the store's counts as they
// stand: one Ping later, one statement more.
func TestDebugSQLStoreCounts(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "prefect.db")})
	require.NoError(t, err)
	defer st.Close()
	srv := httptest.NewServer(debugMux())
	defer srv.Close()
	get := func() sqlstore.Counts {
		resp, err := http.Get(srv.URL + "/debug/sqlstore")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var c sqlstore.Counts
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
		return c
	}
	before := get()
	require.NoError(t, st.Ping(context.Background()))
	after := get()
	require.Equal(t, before.Statements+1, after.Statements)
	require.Equal(t, before.Transactions, after.Transactions)
}

// backup prints its report as one JSON line and writes it to the
// termination log when that file exists; restore puts the backup in place
// for a server with no database yet, and never over one.
func TestBackupAndRestoreCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///"+dir+"/prefect.db")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"migrate"}, &out, &errOut), errOut.String())

	termLog := filepath.Join(dir, "termination-log")
	require.NoError(t, os.WriteFile(termLog, nil, 0o644))
	defer func(old string) { terminationLog = old }(terminationLog)
	terminationLog = termLog

	out.Reset()
	require.Equal(t, 0, run([]string{"backup", "--dir", dir + "/backups", "--keep", "2"}, &out, &errOut), errOut.String())
	var report struct {
		File      string    `json:"file"`
		Path      string    `json:"path"`
		Time      time.Time `json:"time"`
		SizeBytes int64     `json:"sizeBytes"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &report), out.String())
	require.Equal(t, 1, strings.Count(out.String(), "\n"), "one line")
	require.Equal(t, filepath.Join(dir, "backups", report.File), report.Path)
	info, err := os.Stat(report.Path)
	require.NoError(t, err)
	require.Equal(t, info.Size(), report.SizeBytes)
	require.False(t, report.Time.IsZero())
	written, err := os.ReadFile(termLog)
	require.NoError(t, err)
	require.Equal(t, out.String(), string(written))

	// Restore into a server whose database does not exist yet, then again.
	t.Setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///"+dir+"/new/prefect.db")
	out.Reset()
	require.Equal(t, 0, run([]string{"restore", "--from", report.Path}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "restored from "+report.Path)
	require.FileExists(t, dir+"/new/prefect.db")
	errOut.Reset()
	require.Equal(t, 1, run([]string{"restore", "--from", report.Path}, &out, &errOut))
	require.Contains(t, errOut.String(), "never replaces a database")
	out.Reset()
	require.Equal(t, 0, run([]string{"restore", "--from", report.Path, "--if-missing"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "left as it is")
	out.Reset()
	require.Equal(t, 0, run([]string{"migrate"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "database is up to date", "the restored database is the migrated one")

	// Not for PostgreSQL, and not without its flags.
	t.Setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "postgresql://u@localhost/prefect")
	errOut.Reset()
	require.Equal(t, 1, run([]string{"backup", "--dir", dir}, &out, &errOut))
	require.Contains(t, errOut.String(), "pg_dump")
	errOut.Reset()
	require.Equal(t, 2, run([]string{"backup", "--bogus"}, &out, &errOut))
	require.Contains(t, errOut.String(), "flag provided but not defined: -bogus")
}
