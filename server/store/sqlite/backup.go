package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// The two SQLite operations backups are made of. Both open their database
// read-only (mode=ro), so neither can create a missing file nor take the
// write lock: a backup runs beside a live server, which keeps writing.

// VacuumInto writes a consistent copy of the database at src to dst, which
// must not exist. VACUUM INTO reads src in one read transaction, so the copy
// holds every transaction committed before it began and none after; in WAL
// mode that transaction neither waits for the server's writer nor blocks it.
// SQLite does not sync the copy: callers that keep it call fsync themselves.
func VacuumInto(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("the database %s: %w", src, err)
	}
	db, err := openReadOnly(src)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("VACUUM INTO %s: %w", dst, err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check on the database file at path
// and returns an error carrying SQLite's findings (at most the first ten)
// unless it answers "ok". A file that is not a SQLite database fails too.
func IntegrityCheck(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check(10)`)
	if err != nil {
		return fmt.Errorf("integrity check of %s: %w", path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("integrity check of %s: %w", path, err)
		}
		problems = append(problems, line)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check of %s: %w", path, err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	if len(problems) == 0 {
		return errors.New("integrity check of " + path + ": no answer")
	}
	return fmt.Errorf("integrity check of %s failed: %s", path, strings.Join(problems, "; "))
}

// Verify is IntegrityCheck, and then requires a migrated Prefect schema: an
// empty file, or some other SQLite database, passes integrity_check and
// would have the server start empty.
func Verify(ctx context.Context, path string) error {
	if err := IntegrityCheck(ctx, path); err != nil {
		return err
	}
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	var versions int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil || versions == 0 {
		return fmt.Errorf("%s is not a Prefect database: it has no schema migrations", path)
	}
	return nil
}

// openReadOnly opens one read-only connection to the file at path; the path
// is escaped, so a '?' or '#' in it is part of the name.
func openReadOnly(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", (60*time.Second).Milliseconds()))
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}
