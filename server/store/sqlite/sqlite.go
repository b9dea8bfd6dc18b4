// Package sqlite opens the embedded default store: a SQLite file in WAL mode
// through a pure-Go driver, so the server binary stays static.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are this dialect's numbered schema migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Options configures the SQLite store.
type Options struct {
	// Path is the database file; ":memory:" keeps everything in memory.
	Path string
	// Readers is the size of the read pool.
	Readers int
	// StatementTimeout bounds each statement.
	StatementTimeout time.Duration
	// BusyTimeout is how long a connection waits for another process's
	// lock (a retention CronJob, a migration) before giving up.
	BusyTimeout time.Duration
	// EncryptionKey encrypts block documents; empty means the stored key.
	EncryptionKey string
	// Migrate applies pending migrations on open.
	Migrate bool
}

// Open opens (creating if needed) the database at o.Path: one writer
// connection, through which every write queues, and a pool of readers, which
// WAL lets run beside the writer.
func Open(ctx context.Context, o Options) (*sqlstore.Store, error) {
	memory := o.Path == ":memory:" || o.Path == ""
	if !memory {
		if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
			return nil, fmt.Errorf("creating the database directory: %w", err)
		}
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = 60 * time.Second
	}
	writer, err := open(dsn(o.Path, busy, "_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxLifetime(0)
	reader := writer
	var closers []io.Closer
	if !memory {
		reader, err = open(dsn(o.Path, busy, "_pragma=query_only(1)"))
		if err != nil {
			_ = writer.Close()
			return nil, err
		}
		reader.SetMaxOpenConns(max(o.Readers, 2))
		ckpt, err := open(dsn(o.Path, busy, ""))
		if err != nil {
			_ = writer.Close()
			_ = reader.Close()
			return nil, err
		}
		ckpt.SetMaxOpenConns(1)
		closers = append(closers, startCheckpointer(ckpt, checkpointEvery))
	}
	s := sqlstore.New(sqlstore.Options{Dialect: sqlstore.SQLite, Writer: writer, Reader: reader, StatementTimeout: o.StatementTimeout,
		EncryptionKey: o.EncryptionKey, Closers: closers})
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", o.Path, err)
	}
	if o.Migrate {
		if _, err := sqlstore.Migrate(ctx, writer, sqlstore.SQLite, Migrations); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Migrate applies pending migrations to the database at path.
func Migrate(ctx context.Context, path string) ([]int, error) {
	db, err := open(dsn(path, 60*time.Second, "_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return sqlstore.Migrate(ctx, db, sqlstore.SQLite, Migrations)
}

// open is sql.Open of the driver, through connections that keep their
// prepared statements (stmtcache.go).
func open(dsn string) (*sql.DB, error) {
	c, err := newCachingConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// dsn sets busy_timeout first, so a connection waits instead of failing while
// another holds the lock needed to switch on WAL. Each connection keeps
// SQLite's default page cache (2 MB): the OS caches the file for all of
// them, and at 20 MB the writer's and checkpointer's caches were a third of
// the server's memory under load, for no throughput.
func dsn(path string, busy time.Duration, extra string) string {
	if path == "" {
		path = ":memory:"
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "temp_store(MEMORY)")
	// The checkpointer (checkpoint.go) keeps the WAL short; the writer
	// checkpoints only past this backstop.
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", backstopFrames))
	return "file:" + path + "?" + q.Encode() + "&" + extra
}
