package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The checkpointer copies committed frames while the writer holds its lock,
// and once it has copied them all the writer starts the WAL over.
func TestCheckpointerBesideTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ckpt.db")
	writer, err := open(dsn(path, time.Second, "_txlock=immediate"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = writer.Close() })
	writer.SetMaxOpenConns(1)
	ckptDB, err := open(dsn(path, time.Second, ""))
	require.NoError(t, err)
	c := startCheckpointer(ckptDB, time.Hour) // its ticks never come: the test checkpoints itself
	t.Cleanup(func() { require.NoError(t, c.Close()); require.NoError(t, c.Close()) })

	_, err = writer.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	require.NoError(t, err)
	for i := range 200 {
		_, err := writer.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", strings.Repeat("x", 1000+i))
		require.NoError(t, err)
	}

	// A write transaction open on the writer does not hold the checkpoint up.
	tx, err := writer.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO t (v) VALUES ('uncommitted')")
	require.NoError(t, err)
	frames, copied, err := c.checkpoint(ctx, time.Minute)
	require.NoError(t, err)
	require.Greater(t, frames, 200, "every commit added frames")
	require.Equal(t, frames, copied, "every committed frame is in the database file")
	require.NoError(t, tx.Commit())
	frames, copied, err = c.checkpoint(ctx, time.Minute)
	require.NoError(t, err)
	require.Equal(t, frames, copied)

	// Once all is copied, the next write starts the WAL over instead of
	// growing it.
	_, err = writer.ExecContext(ctx, "INSERT INTO t (v) VALUES ('after')")
	require.NoError(t, err)
	after, _, err := c.checkpoint(ctx, time.Minute)
	require.NoError(t, err)
	require.Less(t, after, frames, "the WAL was restarted")

	var n int
	require.NoError(t, writer.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 202, n)
}
