package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// LeaderLockKey is the advisory lock key of the singleton services' leader.
const LeaderLockKey = 4200_4201

// AdvisoryLock is a session-level advisory lock (pg_try_advisory_lock) held
// on a dedicated connection: it is held as long as that session lives, so
// when the holder dies its connection drops and the lock frees. It
// implements services.Lock.
type AdvisoryLock struct {
	cfg *pgx.ConnConfig
	key int64
	// Check is how often the holder checks its connection; default 1s.
	Check time.Duration

	mu     sync.Mutex
	conn   *pgx.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

// NewAdvisoryLock returns the lock key over connections configured by cfg.
func NewAdvisoryLock(cfg *pgx.ConnConfig, key int64) *AdvisoryLock {
	cfg = cfg.Copy()
	// Timeouts only interrupt the read; the connection's state is then
	// judged by the next check.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	return &AdvisoryLock{cfg: cfg, key: key, Check: time.Second}
}

// TryAcquire connects and tries the lock once. When it is taken, a watcher
// pings the connection every Check and closes lost when a ping fails (the
// lock is then gone with the session, or about to be).
func (l *AdvisoryLock) TryAcquire(ctx context.Context) (<-chan struct{}, bool, error) {
	l.Release()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, l.cfg)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(cctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&ok); err != nil || !ok {
		_ = conn.Close(context.Background())
		return nil, false, err
	}
	lost := make(chan struct{})
	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l.mu.Lock()
	l.conn, l.cancel, l.done = conn, wcancel, done
	l.mu.Unlock()
	go l.watch(wctx, conn, lost, done)
	return lost, true, nil
}

func (l *AdvisoryLock) watch(ctx context.Context, conn *pgx.Conn, lost, done chan struct{}) {
	defer close(done)
	every := l.Check
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(2*every, 3*time.Second))
		err := conn.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			close(lost)
			return
		}
	}
}

// Release closes the connection, which ends the session and frees the lock.
func (l *AdvisoryLock) Release() {
	l.mu.Lock()
	conn, cancel, done := l.conn, l.cancel, l.done
	l.conn, l.cancel, l.done = nil, nil, nil
	l.mu.Unlock()
	if conn == nil {
		return
	}
	cancel()
	<-done
	ctx, c := context.WithTimeout(context.Background(), 3*time.Second)
	defer c()
	_ = conn.Close(ctx)
}
