package backup

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/sqlite"
	"prefectgo.dev/prefectgo/server/store/sqlstore"
)

// liveDatabase opens a migrated Prefect database in WAL mode through the
// server's own store, as `prefect-server serve` does.
func liveDatabase(t *testing.T) (*sqlstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "prefect.db")
	st, err := sqlite.Open(t.Context(), sqlite.Options{Path: path, Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st, path
}

// newFlow is a flow as the API would hand it to the store.
func newFlow(name string) schema.FlowCreate {
	return schema.FlowCreate{Name: name, Tags: []string{}, Labels: []byte(`{}`)}
}

func flowName(i int64) string { return fmt.Sprintf("flow-%07d", i) }

// flowsIn counts the flows in a database file and returns the greatest name.
func flowsIn(t *testing.T, path string) (int64, string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var n int64
	var last sql.NullString
	require.NoError(t, db.QueryRow(`SELECT count(*), max(name) FROM flow`).Scan(&n, &last))
	return n, last.String
}

// A backup taken while a writer keeps committing is a valid database that
// holds every write acknowledged before the backup began, and the writes
// after it in order only (a prefix: the snapshot is one point in time).
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, path := liveDatabase(t)

	// A writer through the server's store, numbering its flows; acked is
	// how many it has had committed.
	var acked atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, _, err := st.UpsertFlow(context.Background(), newFlow(flowName(i))); err != nil {
				done <- err
				return
			}
			acked.Store(i + 1)
			if i == 500 {
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the writer stopped: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "backups")
	before := acked.Load()
	res, err := Create(ctx, Options{Database: path, Dir: dir, Keep: 3})
	after := acked.Load()
	close(stop)
	require.NoError(t, <-done)
	require.NoError(t, err)
	t.Logf("%d flows acknowledged before the backup, %d after; %+v", before, after, res)

	require.Equal(t, filepath.Join(dir, res.File), res.Path)
	require.Regexp(t, `^prefect-\d{8}T\d{6}Z\.db$`, res.File)
	info, err := os.Stat(res.Path)
	require.NoError(t, err)
	require.Equal(t, info.Size(), res.SizeBytes)
	require.Equal(t, 1, res.Kept)
	require.NoError(t, sqlite.Verify(ctx, res.Path))

	n, last := flowsIn(t, res.Path)
	require.GreaterOrEqual(t, n, before, "an acknowledged write is missing from the backup")
	require.LessOrEqual(t, n, after+1, "the backup holds writes that began after it ended")
	require.Equal(t, flowName(n-1), last, "the flows in the backup are not a prefix of the writes")

	// The backup opens as a Prefect database.
	copied, err := sqlite.Open(ctx, sqlite.Options{Path: res.Path})
	require.NoError(t, err)
	defer copied.Close()
	f, err := copied.ReadFlowByName(ctx, flowName(before-1))
	require.NoError(t, err)
	require.Equal(t, flowName(before-1), f.Name)
}

// A write transaction held open by another connection across the whole
// backup neither blocks it (the backup never needs the write lock) nor
// leaks into it.
func TestBackupBesideAnOpenWrite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, path := liveDatabase(t)
	_, _, err := st.UpsertFlow(ctx, newFlow("committed"))
	require.NoError(t, err)

	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(60000)")
	require.NoError(t, err)
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO flow (id, created, updated, name, tags, labels) VALUES ('x', '', '', 'uncommitted', '[]', '{}')`)
	require.NoError(t, err)

	res, err := Create(ctx, Options{Database: path, Dir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, tx.Commit())

	n, last := flowsIn(t, res.Path)
	require.EqualValues(t, 1, n)
	require.Equal(t, "committed", last)
	n, _ = flowsIn(t, path)
	require.EqualValues(t, 2, n, "the live database has the write committed after the backup")
}

// Retention deletes the oldest of the files Create named beyond keep, and
// nothing else in the directory: not files of other names, not a partial
// copy, not a directory with a backup's name.
func TestRetentionPrunesOnlyItsOwn(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, path := liveDatabase(t)
	_, _, err := st.UpsertFlow(ctx, newFlow("one"))
	require.NoError(t, err)

	dir := t.TempDir()
	foreign := []string{
		"notes.txt", "prefect.db", "prefect-manual.db", "prefect-20200101T000000Z.db.bak",
		"other-20200101T000000Z.db", ".prefect-20200101T000000Z.db.partial", "prefect-20200101T000000.db",
	}
	for _, name := range foreign {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("not ours"), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "prefect-20190101T000000Z.db"), 0o755))
	// An older backup, from an earlier run.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prefect-20200101T000000Z.db"), []byte("old"), 0o644))

	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var made []string
	for i := range 4 {
		now := at.Add(time.Duration(i) * time.Hour)
		res, err := Create(ctx, Options{Database: path, Dir: dir, Keep: 2, Now: func() time.Time { return now }})
		require.NoError(t, err)
		require.Equal(t, Name(now), res.File)
		require.Equal(t, now, res.Time)
		made = append(made, res.File)
		require.Equal(t, min(i+2, 2), res.Kept)
	}

	own, err := ownBackups(dir)
	require.NoError(t, err)
	require.Equal(t, made[2:], own, "the two newest stay")
	for _, name := range foreign {
		require.FileExists(t, filepath.Join(dir, name), "retention deleted %s, which is not its own", name)
	}
	require.DirExists(t, filepath.Join(dir, "prefect-20190101T000000Z.db"))
	require.NoFileExists(t, filepath.Join(dir, "prefect-20200101T000000Z.db"))

	// Keep zero keeps everything.
	now := at.Add(10 * time.Hour)
	res, err := Create(ctx, Options{Database: path, Dir: dir, Now: func() time.Time { return now }})
	require.NoError(t, err)
	require.Equal(t, 3, res.Kept)
	require.Zero(t, res.Pruned)

	// A second backup in the same second is refused; the first is kept.
	_, err = Create(ctx, Options{Database: path, Dir: dir, Keep: 1, Now: func() time.Time { return now }})
	require.ErrorContains(t, err, "exists already")
	own, err = ownBackups(dir)
	require.NoError(t, err)
	require.Len(t, own, 3)
}

// A copy that fails its integrity check is removed, and nothing is pruned.
// The database here breaks a NOT NULL constraint its schema was edited to
// declare after the fact: VACUUM INTO copies it faithfully, and the check
// of the copy finds it.
func TestFailedCheckRemovesTheCopy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "broken.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE t (x TEXT)`,
		`INSERT INTO t VALUES (NULL)`,
		`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = 'CREATE TABLE t (x TEXT NOT NULL)' WHERE name = 't'`,
		`PRAGMA writable_schema = OFF`,
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	require.NoError(t, db.Close())

	dir := t.TempDir()
	old := filepath.Join(dir, "prefect-20200101T000000Z.db")
	require.NoError(t, os.WriteFile(old, []byte("old"), 0o644))
	_, err = Create(ctx, Options{Database: path, Dir: dir, Keep: 1})
	require.ErrorContains(t, err, "integrity check")
	require.ErrorContains(t, err, "NULL value in t.x")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the earlier backup is left")
	require.FileExists(t, old)

	// And a database that is not there is not created.
	_, err = Create(ctx, Options{Database: filepath.Join(dir, "missing.db"), Dir: dir})
	require.Error(t, err)
	require.NoFileExists(t, filepath.Join(dir, "missing.db"))
}

// backupOf makes a real backup of a database with one flow.
func backupOf(t *testing.T) string {
	t.Helper()
	st, path := liveDatabase(t)
	_, _, err := st.UpsertFlow(t.Context(), newFlow("restored"))
	require.NoError(t, err)
	res, err := Create(t.Context(), Options{Database: path, Dir: t.TempDir()})
	require.NoError(t, err)
	return res.Path
}

func TestRestore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	from := backupOf(t)
	db := filepath.Join(t.TempDir(), "new", "prefect.db")
	size, err := Restore(ctx, from, db)
	require.NoError(t, err)
	info, err := os.Stat(from)
	require.NoError(t, err)
	require.Equal(t, info.Size(), size)
	entries, err := os.ReadDir(filepath.Dir(db))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no partial copy left beside the database")

	st, err := sqlite.Open(ctx, sqlite.Options{Path: db, Migrate: true})
	require.NoError(t, err)
	defer st.Close()
	f, err := st.ReadFlowByName(ctx, "restored")
	require.NoError(t, err)
	require.Equal(t, "restored", f.Name)
}

// A restore never replaces a database, nor a WAL or journal left without
// one; the database stays as it was.
func TestRestoreRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	from := backupOf(t)
	for _, name := range []string{"prefect.db", "prefect.db-wal", "prefect.db-journal"} {
		dir := t.TempDir()
		db := filepath.Join(dir, "prefect.db")
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("live data"), 0o644))
		_, err := Restore(ctx, from, db)
		require.ErrorIs(t, err, ErrExists, name)
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, "live data", string(got))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, name)
	}
}

// A corrupt backup is refused before anything is written: one whose pages
// were overwritten, and a file that is no database at all.
func TestRestoreRefusesCorrupt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	good := backupOf(t)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	const page = 4096
	require.Greater(t, len(data), 4*page)
	damaged := slices.Clone(data)
	for i := page; i < 3*page; i++ { // pages 2 and 3: the first tables' b-trees
		damaged[i] = byte(i * 7)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"damaged.db":   damaged,
		"notsqlite.db": []byte("this is not a SQLite database, though its name says so, and it is long enough to be read"),
		"empty.db":     nil,
	} {
		from := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(from, content, 0o644))
		target := filepath.Join(t.TempDir(), "prefect.db")
		_, err := Restore(ctx, from, target)
		require.ErrorContains(t, err, "is refused", name)
		require.NoFileExists(t, target, name)
		require.NoFileExists(t, target+".restoring", name)
	}
	_, err = Restore(ctx, filepath.Join(dir, "missing.db"), filepath.Join(t.TempDir(), "prefect.db"))
	require.Error(t, err)
}
