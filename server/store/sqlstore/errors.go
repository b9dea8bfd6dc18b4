package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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
		if strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "53300" {
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "interrupted"):
		return fmt.Errorf("%w: %v", store.ErrTimeout, err)
	case strings.Contains(msg, "database is locked"), strings.Contains(msg, "SQLITE_BUSY"):
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	case strings.Contains(msg, "UNIQUE constraint failed"), strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return &schema.ConflictError{Msg: "Data integrity conflict: " + msg}
	}
	return err
}
