package taskworkers

import (
	"maps"
	"slices"
	"sync"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// tracker records the task workers subscribed to this replica, as Prefect's
// InMemoryTaskWorkerTracker does: by client id, the union of the keys it
// subscribed to and when it was last seen. A worker is listed while it has
// a connection (a client reconnecting may briefly have two).
type tracker struct {
	mu      sync.Mutex
	workers map[string]*worker
}

type worker struct {
	keys  map[string]struct{}
	seen  time.Time
	conns int
}

func (t *tracker) connect(id string, keys []string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.workers == nil {
		t.workers = map[string]*worker{}
	}
	w := t.workers[id]
	if w == nil {
		w = &worker{keys: map[string]struct{}{}}
		t.workers[id] = w
	}
	for _, k := range keys {
		w.keys[k] = struct{}{}
	}
	w.conns++
	w.seen = now
}

func (t *tracker) disconnect(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.workers[id]; w != nil {
		if w.conns--; w.conns <= 0 {
			delete(t.workers, id)
		}
	}
}

// see marks the worker seen at now: it acked a run, or its socket is open
// and answering pings at a poll.
func (t *tracker) see(id string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.workers[id]; w != nil {
		w.seen = now
	}
}

func (t *tracker) seeAll(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.workers {
		w.seen = now
	}
}

// list returns the workers serving any of keys (every worker when keys is
// empty), by identifier, each with its keys sorted.
func (t *tracker) list(keys []string) []schema.TaskWorker {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []schema.TaskWorker{}
	for _, id := range slices.Sorted(maps.Keys(t.workers)) {
		w := t.workers[id]
		if len(keys) > 0 && !slices.ContainsFunc(keys, func(k string) bool { _, ok := w.keys[k]; return ok }) {
			continue
		}
		out = append(out, schema.TaskWorker{Identifier: id, TaskKeys: slices.Sorted(maps.Keys(w.keys)),
			Timestamp: schema.DateTime{Time: w.seen}})
	}
	return out
}
