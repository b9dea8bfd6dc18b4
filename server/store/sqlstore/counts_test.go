package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// Every statement the store sends is counted once, and every write
// transaction once, committed or rolled back. Not parallel: the counts are
// the process's, and no other test of the package runs beside this one.
func TestCounts(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db"))
	require.NoError(t, err)
	defer db.Close()
	s := New(Options{Dialect: SQLite, Writer: db})
	ctx := context.Background()
	since := func(before Counts) Counts {
		now := ReadCounts()
		return Counts{Statements: now.Statements - before.Statements, Transactions: now.Transactions - before.Transactions}
	}

	before := ReadCounts()
	require.NoError(t, s.tx(ctx, func(ctx context.Context, c conn) error {
		if _, err := c.exec(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
			return err
		}
		if _, err := c.exec(ctx, "INSERT INTO t (x) VALUES (?), (?)", 1, 2); err != nil {
			return err
		}
		rows, err := c.query(ctx, "SELECT x FROM t")
		if err != nil {
			return err
		}
		return rows.Close()
	}))
	require.Equal(t, Counts{Statements: 3, Transactions: 1}, since(before))

	before = ReadCounts()
	boom := errors.New("boom")
	require.ErrorIs(t, s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, "INSERT INTO t (x) VALUES (?)", 3)
		require.NoError(t, err)
		return boom
	}), boom)
	var n int
	require.NoError(t, s.read(ctx, func(ctx context.Context, c conn) error {
		return c.queryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
	}))
	require.Equal(t, 2, n, "the second transaction was rolled back")
	require.NoError(t, s.Ping(ctx))
	require.Equal(t, Counts{Statements: 3, Transactions: 1}, since(before))

	// A statement refused before it is sent is not counted.
	before = ReadCounts()
	_, err = conn{q: db, d: SQLite}.exec(ctx, "SELECT ?", refuseNUL)
	require.Error(t, err)
	require.Equal(t, Counts{}, since(before))
}
