package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Store is the SQL implementation of store.Store.
type Store struct {
	d Dialect
	// writer takes every write; on SQLite it is a single connection, so
	// writes queue in the process instead of failing with "database is locked".
	writer *sql.DB
	// reader serves plain reads; on PostgreSQL it is the same pool as writer.
	reader *sql.DB
	// timeout bounds every statement (PREFECT_SERVER_DATABASE_TIMEOUT).
	timeout time.Duration
	now     func() time.Time
	// crypt holds the block document encryption key once loaded.
	crypt blockCrypt
	// group commits SQLite's write transactions together; nil on PostgreSQL,
	// whose writers commit side by side.
	group *groupCommit
	// closers are the backend's background work, stopped before the
	// connections close.
	closers []io.Closer
}

// Options configures a Store.
type Options struct {
	Dialect Dialect
	Writer  *sql.DB
	Reader  *sql.DB // nil means Writer
	// StatementTimeout bounds each statement; zero means no bound.
	StatementTimeout time.Duration
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
	// EncryptionKey encrypts block documents (PREFECT_SERVER_ENCRYPTION_KEY);
	// empty means a key generated once and kept in the configuration table.
	EncryptionKey string
	// Closers are closed first by Close: the backend's own background work
	// on the database (SQLite's checkpointer).
	Closers []io.Closer
}

// New wraps open connections; the caller has applied migrations.
func New(o Options) *Store {
	s := &Store{d: o.Dialect, writer: o.Writer, reader: o.Reader, timeout: o.StatementTimeout, now: o.Now, closers: o.Closers}
	s.crypt.configured = o.EncryptionKey
	if s.reader == nil {
		s.reader = s.writer
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.d.GroupCommit {
		s.group = newGroupCommit(s.writer, s.d, s.bound)
	}
	return s
}

// Dialect names the backend.
func (s *Store) Dialect() string { return s.d.Name }

// PoolStats are the connection pools' statistics, by role: the writer, and
// the reader when it is a pool of its own (SQLite).
func (s *Store) PoolStats() map[string]func() sql.DBStats {
	out := map[string]func() sql.DBStats{"writer": s.writer.Stats}
	if s.reader != s.writer {
		out["reader"] = s.reader.Stats
	}
	return out
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var one int
	counts.statements.Add(1)
	return s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close closes the connections.
func (s *Store) Close() error {
	if s.group != nil {
		s.group.close()
	}
	var err error
	for _, c := range s.closers {
		err = errors.Join(err, c.Close())
	}
	err = errors.Join(err, s.writer.Close())
	if s.reader != s.writer {
		err = errors.Join(err, s.reader.Close())
	}
	return err
}

// clock returns the current time as stored: UTC, microsecond precision.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// conn runs dialect-adapted statements on a querier.
type conn struct {
	q querier
	d Dialect
}

func (c conn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := refused(args); err != nil {
		return nil, err
	}
	counts.statements.Add(1)
	r, err := c.q.ExecContext(ctx, c.d.rebind(q), c.args(args)...)
	return r, classify(err)
}

func (c conn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := refused(args); err != nil {
		return nil, err
	}
	counts.statements.Add(1)
	r, err := c.q.QueryContext(ctx, c.d.rebind(q), c.args(args)...)
	return r, classify(err)
}

func (c conn) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	counts.statements.Add(1)
	return c.q.QueryRowContext(ctx, c.d.rebind(q), c.args(args)...)
}

// args converts Go values into what the backend stores: times as fixed-width
// text on SQLite, UUIDs as text there and as bytes on PostgreSQL, JSON as
// text (SQLite would take bytes as a blob).
func (c conn) args(in []any) []any {
	out := make([]any, len(in))
	for i, a := range in {
		out[i] = c.arg(a)
	}
	return out
}

func (c conn) arg(a any) any {
	switch v := a.(type) {
	case uuid.UUID:
		if c.d.UUIDBytes {
			return [16]byte(v)
		}
		return v.String()
	case *uuid.UUID:
		switch {
		case v == nil:
			return nil
		case c.d.UUIDBytes:
			return [16]byte(*v)
		}
		return v.String()
	case time.Time:
		return c.timeArg(v)
	case *time.Time:
		if v == nil {
			return nil
		}
		return c.timeArg(*v)
	case schema.DateTime:
		return c.timeArg(v.Time)
	case *schema.DateTime:
		if v == nil {
			return nil
		}
		return c.timeArg(v.Time)
	case json.RawMessage:
		if v == nil {
			return nil
		}
		return string(v)
	case *json.RawMessage:
		if v == nil || *v == nil {
			return nil
		}
		return string(*v)
	case schema.StateType:
		return string(v)
	case *schema.StateType:
		if v == nil {
			return nil
		}
		return string(*v)
	}
	return a
}

// timeLayout is fixed width so that text comparison orders times.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func (c conn) timeArg(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if c.d.TextTimes {
		return t.Format(timeLayout)
	}
	return t
}

func (s *Store) r() conn { return conn{q: s.reader, d: s.d} }

// read runs fn against the reader pool under the statement timeout.
func (s *Store) read(ctx context.Context, fn func(context.Context, conn) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return fn(ctx, s.r())
}

// tx runs fn in one write transaction under the statement timeout, committing
// if it returns nil; on SQLite, in the next group commit.
func (s *Store) tx(ctx context.Context, fn func(context.Context, conn) error) error {
	counts.writes.Add(1)
	if s.group != nil {
		return s.group.run(ctx, fn)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	t, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	counts.transactions.Add(1)
	if err := fn(ctx, conn{q: t, d: s.d}); err != nil {
		_ = t.Rollback()
		return err
	}
	return classify(t.Commit())
}
