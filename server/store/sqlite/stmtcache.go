package sqlite

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	msqlite "modernc.org/sqlite"
)

// stmtCacheSize bounds the statements a connection keeps: the writes are a
// few dozen texts, the filters' texts vary with their shape. A prepared
// statement holds SQLite memory outside Go's heap; at 256 per connection,
// the cached multi-row inserts of every batch size were a fifth of the
// server's memory under load.
const stmtCacheSize = 64

// cachingConnector opens connections that keep the statements they
// prepared, by their text. database/sql prepares a statement anew for every
// Exec and Query with arguments, and parsing and planning it was a sixth of
// the single writer's CPU under load; SQLite reuses a prepared statement
// once reset, which the driver does when its rows close.
type cachingConnector struct{ driver.Connector }

func newCachingConnector(dsn string) (driver.Connector, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return cachingConnector{c}, nil
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("sqlite: the driver's connection lacks the context methods")
	}
	return &cachingConn{sqliteConn: inner, byText: map[string]*list.Element{}, lru: list.New()}, nil
}

// sqliteConn is what database/sql uses of the driver's connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn answers ExecContext and QueryContext from its cache. A
// connection serves one caller at a time (database/sql's contract), so the
// cache needs no lock; a statement whose rows are still open is busy, and
// the same text meanwhile gets a statement of its own, closed after use.
type cachingConn struct {
	sqliteConn
	byText map[string]*list.Element // of *cachedStmt, most recent first in lru
	lru    *list.List
}

type cachedStmt struct {
	text string
	stmt driver.Stmt
	busy bool
}

type stmtContext interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// take gives the cached statement for text, preparing it if needed; release
// is called when the statement is free again.
func (c *cachingConn) take(ctx context.Context, text string) (stmtContext, func(), error) {
	if e, ok := c.byText[text]; ok {
		cs := e.Value.(*cachedStmt)
		if !cs.busy {
			c.lru.MoveToFront(e)
			cs.busy = true
			return cs.stmt.(stmtContext), func() { cs.busy = false }, nil
		}
		st, err := c.prepare(ctx, text)
		if err != nil {
			return nil, nil, err
		}
		return st, func() { _ = st.Close() }, nil
	}
	st, err := c.prepare(ctx, text)
	if err != nil {
		return nil, nil, err
	}
	cs := &cachedStmt{text: text, stmt: st, busy: true}
	c.byText[text] = c.lru.PushFront(cs)
	c.evict()
	return st, func() { cs.busy = false }, nil
}

func (c *cachingConn) prepare(ctx context.Context, text string) (stmtContext, error) {
	st, err := c.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	sc, ok := st.(stmtContext)
	if !ok {
		_ = st.Close()
		return nil, errors.New("sqlite: the driver's statement lacks the context methods")
	}
	return sc, nil
}

// evict closes the least recently used free statements beyond the bound.
func (c *cachingConn) evict() {
	for e := c.lru.Back(); e != nil && c.lru.Len() > stmtCacheSize; {
		prev := e.Prev()
		if cs := e.Value.(*cachedStmt); !cs.busy {
			_ = cs.stmt.Close()
			delete(c.byText, cs.text)
			c.lru.Remove(e)
		}
		e = prev
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, release, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	defer release()
	return st.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, release, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		release()
		return nil, err
	}
	return &releasingRows{Rows: rows, release: release}, nil
}

// Close closes the cached statements, then the connection.
func (c *cachingConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*cachedStmt).stmt.Close()
	}
	c.byText, c.lru = nil, list.New()
	return c.sqliteConn.Close()
}

// releasingRows frees its statement when closed.
type releasingRows struct {
	driver.Rows
	release func()
}

func (r *releasingRows) Close() error {
	err := r.Rows.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return err
}
