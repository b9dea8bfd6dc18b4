package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

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
