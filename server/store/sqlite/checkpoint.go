package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// checkpointEvery is how often the background checkpointer copies the WAL
// into the database file.
const checkpointEvery = 250 * time.Millisecond

// backstopFrames is the writer's own autocheckpoint, in WAL frames: reached
// only if the background checkpointer falls behind or cannot run (another
// process holds the checkpoint lock), so the WAL stays bounded regardless.
const backstopFrames = 40000

// checkpointer copies the WAL into the database file from a connection of
// its own. SQLite's autocheckpoint runs inside the commit that crosses the
// threshold, on the one writer every write queues for (a tenth of its time
// under load); a passive checkpoint elsewhere runs beside the writer and
// waits for no one, and the writer then restarts the WAL at its next
// transaction. Durability is as before: a checkpoint only copies what the
// WAL already holds.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

func startCheckpointer(db *sql.DB, every time.Duration) *checkpointer {
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop(every)
	return c
}

func (c *checkpointer) loop(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// A failure (the lock held by another process's checkpoint, a
			// full disk) leaves the frames for the next tick or the
			// writer's backstop.
			_, _, _ = c.checkpoint(context.Background(), every*4)
		}
	}
}

// checkpoint runs one passive checkpoint and reports the WAL's frames and
// how many of them are now in the database file.
func (c *checkpointer) checkpoint(ctx context.Context, timeout time.Duration) (walFrames, copied int, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var busy int
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walFrames, &copied)
	return walFrames, copied, err
}

// Close stops the loop and closes its connection; closing twice is as once.
func (c *checkpointer) Close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		err = c.db.Close()
	})
	return err
}
