package services

import (
	"context"
	"time"
)

// Retention deletes events older than the retention period
// (PREFECT_SERVER_EVENTS_RETENTION_PERIOD), batch by batch, so no
// transaction holds locks for long.
type Retention struct {
	Store  EventDeleter
	Period time.Duration
	// BatchSize is the number of events deleted per transaction.
	BatchSize int
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
}

// EventDeleter is the part of the store retention needs.
type EventDeleter interface {
	DeleteEventsBefore(ctx context.Context, cutoff time.Time, limit int) (events, resources int, err error)
}

// RetentionResult counts what one pass deleted.
type RetentionResult struct {
	Events    int
	Resources int
}

// RunOnce deletes every event that occurred before now minus the period,
// with its resource rows, and reports how many it deleted.
func (r Retention) RunOnce(ctx context.Context) (RetentionResult, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	cutoff := now().UTC().Add(-r.Period)
	batch := max(r.BatchSize, 1)
	var total RetentionResult
	for {
		events, resources, err := r.Store.DeleteEventsBefore(ctx, cutoff, batch)
		total.Events += events
		total.Resources += resources
		if err != nil {
			return total, err
		}
		if events == 0 && resources < batch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
