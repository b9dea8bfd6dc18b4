package events

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// EventWriter stores events (store.Events has this method).
type EventWriter interface {
	// InsertEvents stores events whose ids are new and returns how many were.
	InsertEvents(ctx context.Context, events []schema.Event) (int, error)
}

// persistLeast is how many events a write waits for, up to the flush
// interval. Each write costs the SQLite writer the pages its rows and
// indexes touch, however few the rows: written as they came, the events of
// the 16-client lifecycle benchmark cost the server 5-7% more CPU.
const persistLeast = 64

// persistWriters is how many batches the persister writes at once (see
// writing).
const persistWriters = 2

// PersisterConfig configures a Persister; zero fields take the defaults of
// PREFECT_SERVER_SERVICES_EVENT_PERSISTER_*, but for FlushInterval.
type PersisterConfig struct {
	// BatchSize caps the events written per transaction; default 500.
	BatchSize int
	// FlushInterval is how long fewer than persistLeast events wait for
	// more before they are written (flush_interval); zero writes them at
	// once.
	FlushInterval time.Duration
	// QueueSize is the subscription's queue; when full, publishers wait.
	// Default 50,000 (queue_max_size).
	QueueSize int
	// MaxAttempts is how many times a batch is tried before it is dropped;
	// default 5 (max_flush_retries). It does not apply while the store is
	// unavailable: then the batch is retried until it is written.
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled after each; default 100ms.
	Backoff time.Duration
}

// Persister is the service that writes every published event to the store.
type Persister struct {
	loop batchLoop
}

// NewPersister returns a persister of sub's events into w; Start runs it.
func NewPersister(sub Subscriber, w EventWriter, cfg PersisterConfig, logger *slog.Logger) *Persister {
	logger = cmp.Or(logger, slog.Default())
	return &Persister{loop: batchLoop{
		name:        "event-persister",
		subscriber:  sub,
		queueSize:   max(cmp.Or(cfg.QueueSize, 50_000), 1),
		batchSize:   max(cmp.Or(cfg.BatchSize, 500), 1),
		maxAttempts: max(cmp.Or(cfg.MaxAttempts, 5), 1),
		backoff:     cmp.Or(cfg.Backoff, 100*time.Millisecond),
		logger:      logger,
		least:       persistLeast,
		linger:      cfg.FlushInterval,
		writers:     persistWriters,
		write: func(ctx context.Context, batch []schema.Event) error {
			n, err := w.InsertEvents(ctx, batch)
			if err == nil {
				logger.Debug("persisted events", "batch_size", len(batch), "inserted", n)
			}
			return err
		},
	}}
}

// Start subscribes to the broker and starts writing every published event in the
// background; every event published after Start returns is seen. It fails if
// already running. Cancelling ctx stops it as Stop does.
func (p *Persister) Start(ctx context.Context) error { return p.loop.Start(ctx) }

// Stop writes what is queued and stops; it waits for the last write.
func (p *Persister) Stop() { p.loop.Stop() }

// Err is why events cannot be stored now (the store's ErrUnavailable or
// ErrTimeout from the last write), or nil once a write has succeeded again.
func (p *Persister) Err() error { return p.loop.Err() }

// Backlog is how many published events wait to be written.
func (p *Persister) Backlog() int { return p.loop.Backlog() }

// Dropped is how many events were given up on after failed writes.
func (p *Persister) Dropped() int64 { return p.loop.Dropped() }
