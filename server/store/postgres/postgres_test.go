package postgres

import (
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
