// Package postgres opens the PostgreSQL store, for when one machine is not
// enough: several server replicas share one database.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are this dialect's numbered schema migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Options configures the PostgreSQL store; the fields mirror Prefect's
// database settings.
type Options struct {
	// URL is a postgres:// connection URL.
	URL               string
	PoolSize          int
	MaxOverflow       int
	PoolRecycle       time.Duration
	StatementTimeout  time.Duration
	ConnectionTimeout time.Duration
	// ApplicationName is reported to PostgreSQL; empty means "prefect-server".
	ApplicationName string
	// SearchPath is the schema search path of the server's tables.
	SearchPath string
	// EncryptionKey encrypts block documents; empty means the stored key.
	EncryptionKey string
	// TLS, when enabled, is the connections' TLS, whatever the URL's sslmode.
	TLS     TLS
	Migrate bool
}

// Open connects and, if asked, migrates.
func Open(ctx context.Context, o Options) (*sqlstore.Store, error) {
	db, err := openDB(o)
	if err != nil {
		return nil, err
	}
	s := sqlstore.New(sqlstore.Options{Dialect: sqlstore.PostgreSQL, Writer: db, StatementTimeout: o.StatementTimeout,
		EncryptionKey: o.EncryptionKey})
	if err := s.Ping(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if o.Migrate {
		if _, err := migrate(ctx, db); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return s, nil
}

// Migrate applies pending migrations.
func Migrate(ctx context.Context, o Options) ([]int, error) {
	db, err := openDB(o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return migrate(ctx, db)
}

// migrationLock serialises migrations of replicas starting together.
const migrationLock = 4200_4200

func migrate(ctx context.Context, db *sql.DB) ([]int, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return nil, err
	}
	defer func() {
		_, _ = c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	}()
	return sqlstore.Migrate(ctx, db, sqlstore.PostgreSQL, Migrations)
}

func openDB(o Options) (*sql.DB, error) {
	cfg, err := ConnConfig(o)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	limit := max(o.PoolSize, 1) + o.MaxOverflow
	if o.MaxOverflow < 0 {
		limit = 0 // database/sql's "no limit", as max_overflow -1 is SQLAlchemy's
	}
	db.SetMaxOpenConns(limit)
	// A connection is kept while in use and closed after a while idle, not as
	// soon as pool_size others are idle (SQLAlchemy's overflow): under load
	// that closed and reopened dozens a second, and each costs PostgreSQL a
	// backend start and us the connection's prepared statements.
	db.SetMaxIdleConns(math.MaxInt)
	db.SetConnMaxIdleTime(idleConnTimeout)
	if o.PoolRecycle > 0 {
		db.SetConnMaxLifetime(o.PoolRecycle)
	}
	return db, nil
}

// idleConnTimeout is how long a pooled connection may stay unused.
const idleConnTimeout = time.Minute

// statementCacheCapacity bounds the prepared statements each connection
// keeps, unless the URL sets statement_cache_capacity. pgx's default of 512,
// each kept with its text, filled with the multi-row inserts of every batch
// size and grew the server's heap for as long as it ran under load.
const statementCacheCapacity = 64

// ConnConfig is the pgx configuration of the store's connections, for the
// dedicated connections beside its pool (the event listener, the leader lock).
func ConnConfig(o Options) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	if !strings.Contains(o.URL, "statement_cache_capacity") {
		cfg.StatementCacheCapacity = statementCacheCapacity
	}
	if o.ConnectionTimeout > 0 {
		cfg.ConnectTimeout = o.ConnectionTimeout
	}
	if o.StatementTimeout > 0 {
		// The server enforces it too, so a statement stuck in the database is
		// cancelled even when no client context is watching.
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	if o.ApplicationName != "" {
		cfg.RuntimeParams["application_name"] = o.ApplicationName
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "prefect-server"
	}
	if o.SearchPath != "" {
		cfg.RuntimeParams["search_path"] = o.SearchPath
	}
	tc, err := o.TLS.config(cfg.Host)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		cfg.TLSConfig = tc
		// The URL's other hosts get the same TLS, and none is tried in plain
		// text (sslmode=prefer's fallback).
		var hosts []*pgconn.FallbackConfig
		for _, f := range cfg.Fallbacks {
			if f.TLSConfig != nil {
				f.TLSConfig = tc.Clone()
				f.TLSConfig.ServerName = f.Host
				hosts = append(hosts, f)
			}
		}
		cfg.Fallbacks = hosts
	}
	return cfg, nil
}
