package sqlstore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"prefectgo.dev/prefectgo/server/store"
)

// A statement running past the statement timeout is cancelled and reported
// as store.ErrTimeout, on both backends, instead of holding the request.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	slow := map[string]struct {
		open  func(t *testing.T) (*sql.DB, Dialect)
		query string
	}{
		"sqlite": {
			open: func(t *testing.T) (*sql.DB, Dialect) {
				db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db"))
				require.NoError(t, err)
				return db, SQLite
			},
			// Counts to a billion: many seconds of CPU, interruptible.
			query: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n`,
		},
		"postgres": {
			open: func(t *testing.T) (*sql.DB, Dialect) {
				url := os.Getenv("PREFECTGO_TEST_POSTGRES_URL")
				if url == "" {
					t.Skip("PREFECTGO_TEST_POSTGRES_URL is not set")
				}
				db, err := sql.Open("pgx", url)
				require.NoError(t, err)
				return db, PostgreSQL
			},
			query: `SELECT count(*) FROM (SELECT pg_sleep(30)) s`,
		},
	}
	for name, tc := range slow {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, d := tc.open(t)
			defer db.Close()
			s := New(Options{Dialect: d, Writer: db, StatementTimeout: 200 * time.Millisecond})
			err := s.read(context.Background(), func(ctx context.Context, c conn) error {
				var n int
				return classify(c.queryRow(ctx, tc.query).Scan(&n))
			})
			require.ErrorIs(t, err, store.ErrTimeout)
			require.NoError(t, s.Ping(context.Background()), "the connection is usable after the cancelled statement")
		})
	}
}
