package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrate applies, in order, every NNNN_name.up.sql in migrations that the
// database has not seen, each in its own transaction with its version
// recorded, and returns the versions it applied. Both dialects number their
// migrations identically, so a version means the same schema everywhere.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, migrations fs.FS) ([]int, error) {
	c := conn{q: db, d: d}
	if _, err := c.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	files, err := fs.Glob(migrations, "*.up.sql")
	if err != nil {
		return nil, err
	}
	type migration struct {
		version int
		name    string
	}
	var todo []migration
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(f, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", f)
		}
		todo = append(todo, migration{v, f})
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].version < todo[j].version })

	var applied []int
	for _, m := range todo {
		var seen int
		if err := c.queryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&seen); err != nil {
			return applied, err
		}
		if seen > 0 {
			continue
		}
		body, err := fs.ReadFile(migrations, m.name)
		if err != nil {
			return applied, err
		}
		if err := applyOne(ctx, db, d, m.version, m.name, string(body)); err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.name, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

func applyOne(ctx context.Context, db *sql.DB, d Dialect, version int, name, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	c := conn{q: tx, d: d}
	if _, err := c.exec(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, CURRENT_TIMESTAMP)`, version, name); err != nil {
		return err
	}
	return tx.Commit()
}
