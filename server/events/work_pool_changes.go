package events

import (
	"context"
	"sync"

	"github.com/google/uuid"
)

// Reasons a worker channel sends a work pool snapshot, as Prefect names them.
const (
	snapshotInitial                 = "initial"
	snapshotWorkPoolUpdated         = "work_pool_updated"
	snapshotWorkPoolDeleted         = "work_pool_deleted"
	snapshotHeartbeatReconciliation = "heartbeat_reconciliation"
)

// WorkPoolChange says a work pool changed in a way the workers connected to
// it must learn of: their channels send a fresh snapshot (or close, when the
// pool was deleted). It is Prefect's snapshot invalidation.
type WorkPoolChange struct {
	WorkPoolID uuid.UUID `json:"work_pool_id"`
	Reason     string    `json:"reason"`
	Deleted    bool      `json:"work_pool_deleted"`
}

// WorkPoolChanges hands work pool changes to the worker channels of this
// process and, through the relay a PostgreSQL fan-out installs, to those of
// the other replicas. Changes are signals, not events: nothing stores them,
// and a channel that misses one (a replica's listener reconnecting) still
// notices the pool's new update time at the worker's next heartbeat.
type WorkPoolChanges struct {
	mu      sync.Mutex
	watches map[*poolWatch]struct{}
	relay   func(context.Context, WorkPoolChange)
}

// NewWorkPoolChanges returns a hub with no channels and no relay.
func NewWorkPoolChanges() *WorkPoolChanges {
	return &WorkPoolChanges{watches: map[*poolWatch]struct{}{}}
}

// PoolUpdated announces that a pool's snapshot fields changed (its base job
// template, concurrency limit, pause or storage configuration).
func (h *WorkPoolChanges) PoolUpdated(ctx context.Context, id uuid.UUID) {
	h.publish(ctx, WorkPoolChange{WorkPoolID: id, Reason: snapshotWorkPoolUpdated})
}

// PoolDeleted announces that a pool is gone.
func (h *WorkPoolChanges) PoolDeleted(ctx context.Context, id uuid.UUID) {
	h.publish(ctx, WorkPoolChange{WorkPoolID: id, Reason: snapshotWorkPoolDeleted, Deleted: true})
}

func (h *WorkPoolChanges) publish(ctx context.Context, c WorkPoolChange) {
	h.Deliver(c)
	h.mu.Lock()
	relay := h.relay
	h.mu.Unlock()
	if relay != nil {
		relay(ctx, c)
	}
}

// Deliver hands a change to this process's channels only: what the relay
// calls with the other replicas' changes.
func (h *WorkPoolChanges) Deliver(c WorkPoolChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watches {
		w.offer(c)
	}
}

// SetRelay installs what sends this process's changes to the other replicas.
func (h *WorkPoolChanges) SetRelay(relay func(context.Context, WorkPoolChange)) {
	h.mu.Lock()
	h.relay = relay
	h.mu.Unlock()
}

// watch starts watching every pool; narrow it once the pool is known.
func (h *WorkPoolChanges) watch() *poolWatch {
	w := &poolWatch{hub: h, ch: make(chan WorkPoolChange, 1)}
	h.mu.Lock()
	h.watches[w] = struct{}{}
	h.mu.Unlock()
	return w
}

// poolWatch is one channel's view of the changes: at most one pending, the
// latest, since a snapshot is read fresh from the store whatever the reason
// (Prefect's channel keeps one too, dropping the older).
type poolWatch struct {
	hub *WorkPoolChanges
	ch  chan WorkPoolChange

	mu   sync.Mutex
	pool uuid.UUID // uuid.Nil until narrowed: every pool's changes count
}

// narrow keeps only the changes of pool, dropping a pending one of another.
func (w *poolWatch) narrow(pool uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pool = pool
	select {
	case c := <-w.ch:
		if c.WorkPoolID == pool {
			w.ch <- c
		}
	default:
	}
}

// offer makes c the pending change if it concerns the watched pool.
func (w *poolWatch) offer(c WorkPoolChange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pool != uuid.Nil && c.WorkPoolID != w.pool {
		return
	}
	select {
	case old := <-w.ch:
		if old.Deleted && old.WorkPoolID == c.WorkPoolID {
			c = old // a deletion is not overtaken by a later change
		}
	default:
	}
	w.ch <- c
}

func (w *poolWatch) changes() <-chan WorkPoolChange { return w.ch }

func (w *poolWatch) close() {
	w.hub.mu.Lock()
	delete(w.hub.watches, w)
	w.hub.mu.Unlock()
}
