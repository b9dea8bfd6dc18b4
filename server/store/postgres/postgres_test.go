package postgres

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// Connections keep 64 prepared statements, not pgx's 512, unless the URL
// says otherwise.
func TestStatementCacheCapacity(t *testing.T) {
	t.Parallel()
	cfg, err := ConnConfig(Options{URL: "postgres://u@localhost/db"})
	require.NoError(t, err)
	require.Equal(t, statementCacheCapacity, cfg.StatementCacheCapacity)

	cfg, err = ConnConfig(Options{URL: "postgres://u@localhost/db?statement_cache_capacity=10"})
	require.NoError(t, err)
	require.Equal(t, 10, cfg.StatementCacheCapacity)
}

// TestPoolKeepsBusyConnections checks that connections beyond pool_size stay
// open once free, where closing each (SQLAlchemy's overflow) made PostgreSQL
// start backends dozens of times a second under load, and that a
// max_overflow of -1 lifts the limit.
func TestPoolKeepsBusyConnections(t *testing.T) {
	url := os.Getenv("PREFECTGO_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("PREFECTGO_TEST_POSTGRES_URL is not set; `make test` starts PostgreSQL and sets it")
	}
	ctx := context.Background()
	db, err := openDB(Options{URL: url, PoolSize: 1, MaxOverflow: 2})
	require.NoError(t, err)
	defer db.Close()
	var held []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		require.NoError(t, c.PingContext(ctx))
		held = append(held, c)
	}
	for _, c := range held {
		require.NoError(t, c.Close())
	}
	stats := db.Stats()
	require.Equal(t, 3, stats.MaxOpenConnections)
	require.Equal(t, 3, stats.Idle)

	unlimited, err := openDB(Options{URL: url, PoolSize: 1, MaxOverflow: -1})
	require.NoError(t, err)
	defer unlimited.Close()
	require.Equal(t, 0, unlimited.Stats().MaxOpenConnections)
}
