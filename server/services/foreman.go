package services

import (
	"context"
	"time"

	"prefectgo.dev/prefectgo/server/store"
)

// Foreman marks what stopped checking in (Prefect's foreman service):
// workers OFFLINE after InactivityHeartbeatMultiple missed heartbeats, work
// pools NOT_READY without an online worker, and work queues and deployments
// NOT_READY when not polled within their timeouts.
type Foreman struct {
	Store                       store.Foreman
	InactivityHeartbeatMultiple int
	// FallbackHeartbeatInterval stands in for a worker that sent none.
	FallbackHeartbeatInterval time.Duration
	DeploymentTimeout         time.Duration
	WorkQueueTimeout          time.Duration
	// Now is the clock; nil means the wall clock.
	Now func() time.Time
}

// RunOnce does one pass and reports what it changed.
func (f Foreman) RunOnce(ctx context.Context) (store.StaleResult, error) {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	return f.Store.MarkStale(ctx, store.StaleQuery{
		Now:                         now().UTC(),
		InactivityHeartbeatMultiple: f.InactivityHeartbeatMultiple,
		FallbackHeartbeatInterval:   f.FallbackHeartbeatInterval,
		DeploymentTimeout:           f.DeploymentTimeout,
		WorkQueueTimeout:            f.WorkQueueTimeout,
	})
}
