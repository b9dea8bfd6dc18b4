// Package backend opens the store named by a Prefect database connection
// URL, in any of the forms Python Prefect users already have.
package backend

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/postgres"
	"prefectgo.dev/prefectgo/server/store/sqlite"
)

// Config is the database part of the server settings.
type Config struct {
	URL               string
	PoolSize          int
	MaxOverflow       int
	PoolRecycle       time.Duration
	StatementTimeout  time.Duration
	ConnectionTimeout time.Duration
	// MigrationTimeout bounds applying migrations; zero means no bound.
	MigrationTimeout time.Duration
	// ApplicationName and SearchPath are PostgreSQL connection parameters.
	ApplicationName string
	SearchPath      string
	// EncryptionKey encrypts block documents; empty means the stored key.
	EncryptionKey string
	// TLS is PostgreSQL's client TLS.
	TLS     postgres.TLS
	Migrate bool
}

// Target is a parsed connection URL.
type Target struct {
	Dialect string // "sqlite" or "postgresql"
	// Path is the SQLite file (":memory:" for an in-memory database).
	Path string
	// URL is the postgres:// URL pgx takes.
	URL string
}

// Parse understands sqlite:///path, sqlite+aiosqlite:///path,
// postgresql://, postgres:// and postgresql+asyncpg:// URLs.
func Parse(raw string) (Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Target{}, fmt.Errorf("database URL %q: expected scheme://host/database or sqlite:///path", redact(raw))
	}
	driver, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch driver {
	case "sqlite":
		// sqlite:///relative or sqlite:////absolute, as SQLAlchemy reads them.
		path := strings.TrimPrefix(rest, "/")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			path = ":memory:"
		}
		return Target{Dialect: "sqlite", Path: path}, nil
	case "postgresql", "postgres":
		u, err := url.Parse("postgres://" + rest)
		if err != nil {
			return Target{}, fmt.Errorf("database URL %q: %w", redact(raw), err)
		}
		return Target{Dialect: "postgresql", URL: u.String()}, nil
	}
	return Target{}, fmt.Errorf("database URL %q: unsupported driver %q (use sqlite or postgresql)", redact(raw), scheme)
}

// redact hides a password in a URL for error messages; a URL that does not
// parse is not shown at all, since where its password is cannot be told.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "********")
	}
	return u.String()
}

// Open opens the store for c.URL.
func Open(ctx context.Context, c Config) (store.Store, error) {
	t, err := Parse(c.URL)
	if err != nil {
		return nil, err
	}
	if t.Dialect == "sqlite" {
		return sqlite.Open(ctx, sqlite.Options{Path: t.Path, Readers: c.PoolSize + c.MaxOverflow,
			StatementTimeout: c.StatementTimeout, EncryptionKey: c.EncryptionKey, Migrate: c.Migrate})
	}
	return postgres.Open(ctx, c.postgres(t))
}

// Migrate applies pending migrations and returns their versions.
func Migrate(ctx context.Context, c Config) ([]int, error) {
	if c.MigrationTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.MigrationTimeout)
		defer cancel()
	}
	t, err := Parse(c.URL)
	if err != nil {
		return nil, err
	}
	if t.Dialect == "sqlite" {
		return sqlite.Migrate(ctx, t.Path)
	}
	return postgres.Migrate(ctx, c.postgres(t))
}

// PostgresConnConfig is the pgx configuration of one connection to c's
// PostgreSQL database, for the connections the server keeps beside the
// store's pool. It fails when c.URL is not a PostgreSQL URL.
func PostgresConnConfig(c Config) (*pgx.ConnConfig, error) {
	t, err := Parse(c.URL)
	if err != nil {
		return nil, err
	}
	if t.Dialect != "postgresql" {
		return nil, fmt.Errorf("database URL %q is not a PostgreSQL URL", redact(c.URL))
	}
	return postgres.ConnConfig(c.postgres(t))
}

func (c Config) postgres(t Target) postgres.Options {
	return postgres.Options{URL: t.URL, PoolSize: c.PoolSize, MaxOverflow: c.MaxOverflow, PoolRecycle: c.PoolRecycle,
		StatementTimeout: c.StatementTimeout, ConnectionTimeout: c.ConnectionTimeout, Migrate: c.Migrate,
		ApplicationName: c.ApplicationName, SearchPath: c.SearchPath, EncryptionKey: c.EncryptionKey, TLS: c.TLS}
}
