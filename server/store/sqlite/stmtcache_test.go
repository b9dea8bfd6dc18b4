package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStatementCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := open(dsn(filepath.Join(t.TempDir(), "cache.db"), time.Second, "_txlock=immediate"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	c, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	cached := func() (n int) {
		require.NoError(t, c.Raw(func(dc any) error { n = dc.(*cachingConn).lru.Len(); return nil }))
		return n
	}

	_, err = c.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	require.NoError(t, err)
	insert := "INSERT INTO t (id, v) VALUES (?, ?)"
	for i := range 10 {
		_, err := c.ExecContext(ctx, insert, i, fmt.Sprint("v", i))
		require.NoError(t, err)
	}
	require.Equal(t, 2, cached(), "one statement per text, reused with new arguments")

	// The same text while its rows are open: a statement of its own, and both read right.
	query := "SELECT v FROM t WHERE id >= ? ORDER BY id"
	outer, err := c.QueryContext(ctx, query, 8)
	require.NoError(t, err)
	var got []string
	for outer.Next() {
		var v string
		require.NoError(t, outer.Scan(&v))
		var inner []string
		rows, err := c.QueryContext(ctx, query, 9)
		require.NoError(t, err)
		for rows.Next() {
			var w string
			require.NoError(t, rows.Scan(&w))
			inner = append(inner, w)
		}
		require.NoError(t, rows.Close())
		require.Equal(t, []string{"v9"}, inner)
		got = append(got, v)
	}
	require.NoError(t, outer.Close())
	require.Equal(t, []string{"v8", "v9"}, got)

	// A statement that fails leaves the cache usable; inside a transaction too.
	_, err = c.ExecContext(ctx, insert, 1, "again")
	require.ErrorContains(t, err, "UNIQUE")
	tx, err := c.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, insert, 100, "in a transaction")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	var n int
	require.NoError(t, c.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 10, n, "the rolled back insert, through a cached statement, is not there")

	// Many texts: the cache stays bounded.
	for i := range stmtCacheSize + 50 {
		require.NoError(t, c.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) + %d FROM t", i)).Scan(&n))
		require.Equal(t, 10+i, n)
	}
	require.Equal(t, stmtCacheSize, cached())
}
