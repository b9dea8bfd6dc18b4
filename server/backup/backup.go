// Package backup copies a live SQLite database to backup files and puts one
// back: what `prefect-server backup` and `prefect-server restore` do. The
// copy is SQLite's own VACUUM INTO (a consistent snapshot, safe while the
// server writes), checked with PRAGMA integrity_check (and for a Prefect
// schema) before it is kept, and again before it is restored;
// a restore never replaces a database that exists.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"prefectgo.dev/prefectgo/server/store/sqlite"
)

// timeLayout is the UTC time in a backup's name: sortable as text, so the
// newest backup is the last name.
const timeLayout = "20060102T150405Z"

// ownName matches the names Create gives its backups and nothing else: the
// only files it ever prunes.
var ownName = regexp.MustCompile(`^prefect-[0-9]{8}T[0-9]{6}Z\.db$`)

// Name is the file name of a backup taken at t.
func Name(t time.Time) string { return "prefect-" + t.UTC().Format(timeLayout) + ".db" }

// Options say what to back up, where, and how many backups to keep.
type Options struct {
	// Database is the SQLite file of the live server.
	Database string
	// Dir is where backups go; it is created if missing.
	Dir string
	// Keep is how many of Create's backups stay in Dir, the new one
	// included; older ones are deleted. Zero keeps them all.
	Keep int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is what Create did, as `prefect-server backup` reports it (one JSON
// line, also the Job pod's termination message the operator reads).
type Result struct {
	// File is the backup's name in Dir, Path its full path.
	File string `json:"file"`
	Path string `json:"path"`
	// Time is when the snapshot was taken, as the name says.
	Time time.Time `json:"time"`
	// SizeBytes is the size of the backup file.
	SizeBytes int64 `json:"sizeBytes"`
	// DurationSeconds is how long the copy, check and pruning took.
	DurationSeconds float64 `json:"durationSeconds"`
	// Kept is how many backups Dir holds now; Pruned how many were deleted.
	Kept   int `json:"kept"`
	Pruned int `json:"pruned"`
}

// Create copies o.Database into o.Dir as prefect-<UTC time>.db, checks the
// copy's integrity, and prunes the backups beyond o.Keep. The copy is made
// under a hidden partial name and renamed once checked and synced, so a
// crash never leaves a half-written file that looks like a backup; when the
// copy or its check fails, it is removed and Dir is as before.
func Create(ctx context.Context, o Options) (Result, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	start := now()
	taken := start.UTC().Truncate(time.Second)
	res := Result{File: Name(taken), Time: taken}
	res.Path = filepath.Join(o.Dir, res.File)

	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return res, fmt.Errorf("the backup directory: %w", err)
	}
	if _, err := os.Lstat(res.Path); err == nil {
		return res, fmt.Errorf("%s exists already: one backup per second", res.Path)
	}
	partial := filepath.Join(o.Dir, "."+res.File+".partial")
	if err := os.Remove(partial); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(partial)
		}
	}()
	if err := sqlite.VacuumInto(ctx, o.Database, partial); err != nil {
		return res, err
	}
	if err := sqlite.Verify(ctx, partial); err != nil {
		return res, fmt.Errorf("the copy was removed: %w", err)
	}
	size, err := syncFile(partial)
	if err != nil {
		return res, err
	}
	if err := os.Rename(partial, res.Path); err != nil {
		return res, err
	}
	keep = true
	res.SizeBytes = size
	if err := syncDir(o.Dir); err != nil {
		return res, err
	}

	own, err := ownBackups(o.Dir)
	if err != nil {
		return res, err
	}
	res.Kept = len(own)
	if o.Keep > 0 && len(own) > o.Keep {
		for _, name := range own[:len(own)-o.Keep] {
			if err := os.Remove(filepath.Join(o.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, fmt.Errorf("pruning: %w", err)
			}
			res.Pruned++
		}
		res.Kept = o.Keep
	}
	res.DurationSeconds = now().Sub(start).Seconds()
	return res, nil
}

// ownBackups lists the regular files in dir that Create named, oldest first.
func ownBackups(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && ownName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// ErrExists is Restore's refusal: the database is there already.
var ErrExists = errors.New("the database exists")

// Restore puts the backup from in place as the database db, which must not
// exist (nor its WAL or rollback journal, which would be applied to the
// restored file). The backup is checked first; it is copied beside db,
// synced, and linked into place, so a server never opens a partial copy
// and a database created meanwhile is not replaced. It returns the size
// restored.
func Restore(ctx context.Context, from, db string) (int64, error) {
	if err := refuseExisting(db); err != nil {
		return 0, err
	}
	if err := sqlite.Verify(ctx, from); err != nil {
		return 0, fmt.Errorf("the backup %s is refused: %w", from, err)
	}
	if err := os.MkdirAll(filepath.Dir(db), 0o755); err != nil {
		return 0, err
	}
	partial := db + ".restoring"
	defer os.Remove(partial)
	if err := copyFile(from, partial); err != nil {
		return 0, err
	}
	size, err := syncFile(partial)
	if err != nil {
		return 0, err
	}
	// A link, unlike a rename, fails when db exists.
	if err := os.Link(partial, db); err != nil {
		if errors.Is(err, os.ErrExist) {
			return 0, fmt.Errorf("%w: %s", ErrExists, db)
		}
		return 0, err
	}
	return size, syncDir(filepath.Dir(db))
}

func refuseExisting(db string) error {
	for _, p := range []string{db, db + "-wal", db + "-journal"} {
		_, err := os.Lstat(p)
		if err == nil {
			return fmt.Errorf("%w: %s is there, and a restore never replaces a database", ErrExists, p)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	return dst.Close()
}

// syncFile flushes a file to stable storage and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
