// Package storetest is the behavioural suite every store backend must pass,
// run against real SQLite and real PostgreSQL, and the helpers that open a
// fresh database of each kind and build fixtures in it (fixtures.go) for
// tests elsewhere.
package storetest

import (
	"context"
	"database/sql"

	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/runs"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/postgres"
	"prefectgo.dev/prefectgo/server/store/sqlite"
)

// PostgresURLEnv names the variable holding an admin URL of a PostgreSQL
// server for tests; `make test` starts one and sets it.
const PostgresURLEnv = "PREFECTGO_TEST_POSTGRES_URL"

// Opener opens a fresh, migrated, empty store for one test.
type Opener func(t testing.TB) store.Store

// Writes is the store's run-writing half (creating runs, changing their
// states), which outside tests only the runs service calls. Every backend
// has it; a test that writes runs directly names it through here.
func Writes(s store.Store) runs.Store { return s.(runs.Store) }

// NewSQLite opens a migrated SQLite store in a temporary directory.
func NewSQLite(t testing.TB) store.Store {
	t.Helper()
	return openSQLite(t, filepath.Join(t.TempDir(), "prefect.db"))
}

// openSQLite is NewSQLite on a given file, for a test that also reads the
// database directly.
func openSQLite(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, Readers: 4, Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewPostgres opens a migrated store on a new database of the PostgreSQL
// server named by PREFECTGO_TEST_POSTGRES_URL, and drops it afterwards. The
// test is skipped when the variable is unset.
func NewPostgres(t testing.TB) store.Store {
	t.Helper()
	return openPostgres(t, NewPostgresDatabase(t))
}

// openPostgres is NewPostgres on a given database, for a test that also
// reads it directly.
func openPostgres(t testing.TB, dbURL string) store.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: dbURL, PoolSize: 5, MaxOverflow: 5, Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewPostgresDatabase creates an empty database and returns its URL.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresURLEnv)
	if admin == "" {
		t.Skip(PostgresURLEnv + " is not set; `make test` starts PostgreSQL and sets it")
	}
	name := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	db, err := sql.Open("pgx", admin)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("CREATE DATABASE " + name)
	require.NoError(t, err, "creating a test database")
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// Backends lists the openers to run a test against, by name.
func Backends() map[string]Opener {
	return map[string]Opener{"sqlite": NewSQLite, "postgres": NewPostgres}
}

// ForEach runs fn once per backend as a subtest.
func ForEach(t *testing.T, fn func(t *testing.T, open Opener)) {
	for name, open := range Backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open)
		})
	}
}
