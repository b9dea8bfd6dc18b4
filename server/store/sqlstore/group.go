package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxGroup bounds the write transactions committed together.
const maxGroup = 64

// groupCommit commits SQLite's write transactions in groups. SQLite has one
// writer, so the transactions queue for it anyway; committing the ones
// waiting together writes each page they share to the WAL once instead of
// once per transaction (the writes were a third of the writer's CPU), and
// the group costs no waiting: it is whatever queued while the last one ran.
// Each transaction runs in a savepoint of the group's, so one that fails
// rolls back alone; no caller hears of success before the group commits.
type groupCommit struct {
	db      *sql.DB
	d       Dialect
	bound   func(context.Context) (context.Context, context.CancelFunc)
	jobs    chan *groupJob
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
}

type groupJob struct {
	ctx  context.Context
	fn   func(context.Context, conn) error
	done chan error
}

func newGroupCommit(db *sql.DB, d Dialect, bound func(context.Context) (context.Context, context.CancelFunc)) *groupCommit {
	g := &groupCommit{db: db, d: d, bound: bound, jobs: make(chan *groupJob), stop: make(chan struct{})}
	g.wg.Add(1)
	go g.loop()
	return g
}

// run runs fn in the next group and returns once the group has committed
// (nil) or fn, or the group, has failed. A caller whose context ends before
// its transaction starts is not run; once started, it runs to the end, so
// its outcome is what it is told.
func (g *groupCommit) run(ctx context.Context, fn func(context.Context, conn) error) error {
	j := &groupJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case g.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return errors.New("the store is closed")
	}
	return <-j.done
}

// close stops the loop after its current group; closing twice is as once,
// as for the *sql.DB.
func (g *groupCommit) close() {
	g.stopped.Do(func() { close(g.stop) })
	g.wg.Wait()
}

func (g *groupCommit) loop() {
	defer g.wg.Done()
	for {
		var first *groupJob
		select {
		case first = <-g.jobs:
		case <-g.stop:
			return
		}
		group := []*groupJob{first}
	drain:
		for len(group) < maxGroup {
			select {
			case j := <-g.jobs:
				group = append(group, j)
			default:
				break drain
			}
		}
		g.commit(group)
	}
}

// commit runs the group's live jobs in one transaction and tells each its
// outcome.
func (g *groupCommit) commit(group []*groupJob) {
	live := make([]*groupJob, 0, len(group))
	for _, j := range group {
		if err := j.ctx.Err(); err != nil {
			j.done <- err
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := g.bound(context.Background())
	defer cancel()
	t, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		failAll(live, classify(err))
		return
	}
	counts.transactions.Add(1)
	c := conn{q: t, d: g.d}
	alone := len(live) == 1
	var ok []*groupJob
	for i, j := range live {
		// The caller's values, not its cancellation: an interrupted write
		// would roll back the whole group.
		jctx, jcancel := g.bound(context.WithoutCancel(j.ctx))
		err := g.runOne(jctx, c, j, alone)
		jcancel()
		var broken groupBroken
		switch {
		case errors.As(err, &broken):
			// The transaction is gone: none of the group is written.
			_ = t.Rollback()
			j.done <- broken.err
			failAll(ok, fmt.Errorf("a write committed with this one failed: %w", broken.err))
			failAll(live[i+1:], fmt.Errorf("a write committed with this one failed: %w", broken.err))
			return
		case err != nil:
			j.done <- err
		default:
			ok = append(ok, j)
		}
	}
	if len(ok) == 0 {
		_ = t.Rollback()
		return
	}
	if err := classify(t.Commit()); err != nil {
		failAll(ok, err)
		return
	}
	for _, j := range ok {
		j.done <- nil
	}
}

// groupBroken is a job's failure that ended the group's transaction.
type groupBroken struct{ err error }

func (b groupBroken) Error() string { return b.err.Error() }

// runOne runs j in a savepoint (unless it is alone, when the transaction is
// its own); its error rolls back its writes only.
func (g *groupCommit) runOne(ctx context.Context, c conn, j *groupJob, alone bool) error {
	if alone {
		if err := j.fn(ctx, c); err != nil {
			return groupBroken{err}
		}
		return nil
	}
	if _, err := c.q.ExecContext(ctx, "SAVEPOINT w"); err != nil {
		return groupBroken{classify(err)}
	}
	if err := j.fn(ctx, c); err != nil {
		// A failure SQLite answers by rolling back the whole transaction
		// leaves no savepoint to roll back to.
		if _, rerr := c.q.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
			return groupBroken{err}
		}
		if _, rerr := c.q.ExecContext(ctx, "RELEASE w"); rerr != nil {
			return groupBroken{err}
		}
		return err
	}
	if _, err := c.q.ExecContext(ctx, "RELEASE w"); err != nil {
		return groupBroken{classify(err)}
	}
	return nil
}

func failAll(jobs []*groupJob, err error) {
	for _, j := range jobs {
		j.done <- err
	}
}
