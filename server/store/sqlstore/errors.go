package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// classify turns driver errors into the store's typed errors, so the HTTP
// layer can answer with the right status without knowing the backend.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return schema.ErrNotFound
	}
	// Before the deadline check: a connection attempt cut short by the
	// statement timeout is still a database that cannot be reached.
	if reason, ok := unavailable(err); ok {
		return &store.UnavailableError{Reason: reason, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", store.ErrTimeout, err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "57014": // query_canceled: statement_timeout fired
			return fmt.Errorf("%w: %v", store.ErrTimeout, err)
		case "23505", "23503": // unique_violation, foreign_key_violation
			return &schema.ConflictError{Msg: "Data integrity conflict: " + pg.Message}
		}
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "interrupted"):
		return fmt.Errorf("%w: %v", store.ErrTimeout, err)
	case strings.Contains(msg, "UNIQUE constraint failed"), strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return &schema.ConflictError{Msg: "Data integrity conflict: " + msg}
	}
	return err
}

// SQLite's primary result codes (extended codes keep them in the low byte).
const (
	sqliteBusy   = 5
	sqliteLocked = 6
	sqliteIOErr  = 10
	sqliteFull   = 13
)

// unavailable reports whether err says the database cannot take statements
// for now, for a reason of the database or its host that a retry may
// outlive, and words that reason for clients.
func unavailable(err error) (string, bool) {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "53100": // disk_full
			return "the database's disk is full", true
		case strings.HasPrefix(pg.Code, "53"): // insufficient_resources: memory, connections
			return "the database is out of resources (" + pg.Message + ")", true
		case pg.Code == "57P01", pg.Code == "57P02": // admin_shutdown, crash_shutdown
			return "the database is shutting down", true
		case pg.Code == "57P03": // cannot_connect_now
			return "the database is starting up or shutting down", true
		case strings.HasPrefix(pg.Code, "08"): // connection_exception
			return "the connection to the database failed", true
		case pg.Code == "58030": // io_error
			return "the database reported an I/O error", true
		}
		return "", false
	}
	// modernc.org/sqlite's *Error; matched by method so this package needs
	// no SQLite import.
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case sqliteFull:
			return "the database's disk is full", true
		case sqliteIOErr:
			return "the database reported an I/O error", true
		case sqliteBusy, sqliteLocked:
			return "the database is busy", true
		}
	}
	if strings.Contains(err.Error(), "database is locked") {
		return "the database is busy", true
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return "the database cannot be reached", true
	}
	for _, lost := range []error{pgconn.ErrConnClosed, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE,
		io.ErrUnexpectedEOF, net.ErrClosed, driver.ErrBadConn} {
		if errors.Is(err, lost) {
			return "the connection to the database was lost", true
		}
	}
	return "", false
}
