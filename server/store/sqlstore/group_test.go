package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"prefectgo.dev/prefectgo/server/schema"
)

func groupStore(t *testing.T) (*Store, *sql.DB) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "g.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	_, err = db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
	require.NoError(t, err)
	s := New(Options{Dialect: SQLite, Writer: db})
	t.Cleanup(func() { _ = s.Close() })
	return s, db
}

func ids(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query("SELECT id FROM t ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var id int
		require.NoError(t, rows.Scan(&id))
		out = append(out, id)
	}
	return out
}

func insert(id int, fail error) func(context.Context, conn) error {
	return func(ctx context.Context, c conn) error {
		if _, err := c.exec(ctx, "INSERT INTO t (id) VALUES (?)", id); err != nil {
			return err
		}
		return fail
	}
}

// One group: each transaction commits or rolls back alone, and each hears its own outcome.
func TestGroupCommitSavepoints(t *testing.T) {
	t.Parallel()
	s, db := groupStore(t)
	refused := errors.New("refused")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	jobs := []*groupJob{
		{ctx: context.Background(), fn: insert(1, nil)},
		{ctx: context.Background(), fn: insert(2, refused)}, // rolled back alone
		{ctx: context.Background(), fn: insert(1, nil)},     // a constraint error, its own
		{ctx: cancelled, fn: insert(4, nil)},                // ended before it started: not run
		{ctx: context.Background(), fn: insert(5, nil)},
	}
	for _, j := range jobs {
		j.done = make(chan error, 1)
	}
	s.group.commit(jobs)
	require.NoError(t, <-jobs[0].done)
	require.ErrorIs(t, <-jobs[1].done, refused)
	var conflict *schema.ConflictError
	require.ErrorAs(t, <-jobs[2].done, &conflict)
	require.ErrorIs(t, <-jobs[3].done, context.Canceled)
	require.NoError(t, <-jobs[4].done)
	require.Equal(t, []int{1, 5}, ids(t, db))

	// A transaction that ends the group's transaction takes the group with it: none of it is
	// written and none is told it was.
	breaker := func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, "ROLLBACK")
		require.NoError(t, err)
		return refused
	}
	jobs = []*groupJob{
		{ctx: context.Background(), fn: insert(6, nil)},
		{ctx: context.Background(), fn: breaker},
		{ctx: context.Background(), fn: insert(7, nil)},
	}
	for _, j := range jobs {
		j.done = make(chan error, 1)
	}
	s.group.commit(jobs)
	for _, j := range jobs {
		require.Error(t, <-j.done)
	}
	require.Equal(t, []int{1, 5}, ids(t, db))
	require.NoError(t, s.tx(context.Background(), insert(8, nil)), "the store writes after a broken group")
}

// Many writers at once through tx: exactly the ones told nil are written.
func TestGroupCommitConcurrent(t *testing.T) {
	t.Parallel()
	s, db := groupStore(t)
	refused := errors.New("refused")
	var mu sync.Mutex
	var want []int
	var wg sync.WaitGroup
	for i := 1; i <= 300; i++ {
		wg.Go(func() {
			var fail error
			if i%7 == 0 {
				fail = refused
			}
			err := s.tx(context.Background(), insert(i, fail))
			if err == nil {
				mu.Lock()
				want = append(want, i)
				mu.Unlock()
			} else {
				require.ErrorIs(t, err, refused)
			}
		})
	}
	wg.Wait()
	require.Len(t, want, 300-300/7)
	require.ElementsMatch(t, want, ids(t, db))
}
