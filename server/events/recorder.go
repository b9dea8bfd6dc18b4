package events

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// TaskRunStateRecorder stores task runs reported in events (store.TaskRuns
// has this method).
type TaskRunStateRecorder interface {
	RecordTaskRunStates(ctx context.Context, runs []schema.TaskRun) error
}

// RecorderConfig configures a Recorder; zero fields take the defaults of
// PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_*.
type RecorderConfig struct {
	// BatchSize caps the task runs written per call, with every state of
	// theirs that is queued; default 100.
	BatchSize int
	// QueueSize is the subscription's queue (it sees every event, not only
	// task-run ones); when full, publishers wait. Default 10,000.
	QueueSize int
	// MaxAttempts is how many times a batch is tried before it is dropped;
	// default 5. It does not apply while the store is unavailable: then the
	// batch is retried until it is written.
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled after each; default 100ms.
	Backoff time.Duration
}

// Recorder is the task-run recorder service: task runs run on the client,
// which reports each state change as a prefect.task-run.* event; the recorder
// turns those events into task runs and states in the store.
type Recorder struct {
	loop batchLoop
}

// NewRecorder returns a recorder of sub's task-run events into w; Start runs it.
func NewRecorder(sub Subscriber, w TaskRunStateRecorder, cfg RecorderConfig, logger *slog.Logger) *Recorder {
	logger = cmp.Or(logger, slog.Default())
	return &Recorder{loop: batchLoop{
		name:        "task-run-recorder",
		subscriber:  sub,
		queueSize:   max(cmp.Or(cfg.QueueSize, 10_000), 1),
		batchSize:   max(cmp.Or(cfg.BatchSize, 100), 1),
		maxAttempts: max(cmp.Or(cfg.MaxAttempts, 5), 1),
		backoff:     cmp.Or(cfg.Backoff, 100*time.Millisecond),
		logger:      logger,
		keep:        IsClientTaskRunEvent,
		unit:        func(ev schema.Event) string { return ev.Resource.ID() },
		write: func(ctx context.Context, batch []schema.Event) error {
			runs := taskRunsFromEvents(batch, logger)
			if len(runs) == 0 {
				return nil
			}
			return w.RecordTaskRunStates(ctx, runs)
		},
	}}
}

// taskRunsFromEvents maps a batch in arrival order, so states of one run keep
// their order; events that cannot be read are logged and skipped.
func taskRunsFromEvents(batch []schema.Event, logger *slog.Logger) []schema.TaskRun {
	runs := make([]schema.TaskRun, 0, len(batch))
	for _, ev := range batch {
		tr, err := TaskRunFromEvent(ev)
		if err != nil {
			logger.Warn("skipping unreadable task-run event", "event_id", ev.ID, "event", ev.Event,
				"resource_id", ev.Resource.ID(), "error", err)
			continue
		}
		runs = append(runs, tr)
	}
	return runs
}

// Start subscribes to the broker and starts recording task runs in the
// background; every event published after Start returns is seen. It fails if
// already running. Cancelling ctx stops it as Stop does.
func (r *Recorder) Start(ctx context.Context) error { return r.loop.Start(ctx) }

// Stop writes what is queued and stops; it waits for the last write.
func (r *Recorder) Stop() { r.loop.Stop() }

// Err is why task runs cannot be recorded now, or nil (see Persister.Err).
func (r *Recorder) Err() error { return r.loop.Err() }
