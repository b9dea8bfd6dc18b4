package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store"
)

// Errors that say the database or its host cannot take statements now are
// store.ErrUnavailable with a reason for the client; the statement timeout
// stays store.ErrTimeout; anything else is left alone.
func TestClassifyUnavailable(t *testing.T) {
	t.Parallel()
	// A real connection error: nothing listens on a port just freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, connectErr := pgx.Connect(t.Context(), "postgres://postgres@"+addr+"/postgres?sslmode=disable&connect_timeout=5")
	require.Error(t, connectErr)

	for err, reason := range map[error]string{
		&pgconn.PgError{Code: "53100"}:                      "the database's disk is full",
		&pgconn.PgError{Code: "57P01"}:                      "the database is shutting down",
		&pgconn.PgError{Code: "57P03"}:                      "the database is starting up or shutting down",
		&pgconn.PgError{Code: "53300", Message: "too many"}: "the database is out of resources (too many)",
		&pgconn.PgError{Code: "08006"}:                      "the connection to the database failed",
		connectErr:                                          "the database cannot be reached",
		fmt.Errorf("x: %w", syscall.ECONNRESET):             "the connection to the database was lost",
		io.ErrUnexpectedEOF:                                 "the connection to the database was lost",
		pgconn.ErrConnClosed:                                "the connection to the database was lost",
		fmt.Errorf("database is locked (5)"):                "the database is busy",
	} {
		var ue *store.UnavailableError
		require.ErrorAs(t, classify(err), &ue, "%v", err)
		require.Equal(t, reason, ue.Reason, "%v", err)
		require.ErrorIs(t, classify(err), store.ErrUnavailable)
	}
	require.ErrorIs(t, classify(&pgconn.PgError{Code: "57014"}), store.ErrTimeout)
	require.ErrorIs(t, classify(context.DeadlineExceeded), store.ErrTimeout)
	other := &pgconn.PgError{Code: "42P01"}
	require.Equal(t, error(other), classify(other))
}

// The services' sweeps that count what they changed report a failed
// statement as an error instead of reading the result it never returned.
// A database without the schema makes each statement fail inside its
// transaction.
func TestSweepsReportAFailedStatement(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "empty.db"))
	require.NoError(t, err)
	defer db.Close()
	s := New(Options{Dialect: SQLite, Writer: db})
	ctx := t.Context()
	for name, sweep := range map[string]func() error{
		"SweepBuckets":              func() error { _, err := s.SweepBuckets(ctx, time.Now()); return err },
		"ReleaseStaleTaskRunClaims": func() error { _, err := s.ReleaseStaleTaskRunClaims(ctx, time.Now()); return err },
		"DeleteOrphanedLogs":        func() error { _, err := s.DeleteOrphanedLogs(ctx, 10); return err },
		"MarkStale":                 func() error { _, err := s.MarkStale(ctx, store.StaleQuery{}); return err },
	} {
		require.Error(t, sweep(), name)
	}
}
