package events

import (
	"sync"

	"github.com/google/uuid"
)

// recentIDs remembers the last n event ids, so an event a client resends after
// reconnecting (it cannot know which unconfirmed events arrived) is not
// published twice. Prefect keeps the same kind of bounded cache in its broker.
type recentIDs struct {
	mu   sync.Mutex
	seq  uint64
	ids  map[uuid.UUID]uint64 // id -> sequence number of its ring slot
	ring []ringSlot
	next int
}

type ringSlot struct {
	id  uuid.UUID
	seq uint64
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{ids: make(map[uuid.UUID]uint64, n), ring: make([]ringSlot, max(n, 1))}
}

// add records id and reports whether it was new.
func (r *recentIDs) add(id uuid.UUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[id]; ok {
		return false
	}
	old := r.ring[r.next]
	// The slot may be stale: its id was forgotten, or re-added to a newer slot.
	if old.seq != 0 && r.ids[old.id] == old.seq {
		delete(r.ids, old.id)
	}
	r.seq++
	r.ring[r.next] = ringSlot{id: id, seq: r.seq}
	r.ids[id] = r.seq
	r.next = (r.next + 1) % len(r.ring)
	return true
}

// forget drops id, so a resend after a failed publish goes through.
func (r *recentIDs) forget(id uuid.UUID) {
	r.mu.Lock()
	delete(r.ids, id)
	r.mu.Unlock()
}
