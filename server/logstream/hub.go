package logstream

import (
	"context"
	"sync"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
)

// Hub hands logs to this replica's /logs/out subscribers.
type Hub struct {
	mu    sync.RWMutex
	subs  map[*subscriber]struct{}
	relay func(context.Context, []schema.Log)
}

// subscriber is one /logs/out socket: its filter and its queue.
type subscriber struct {
	filter schema.LogFilter
	out    *events.Outbox[schema.Log]
}

// NewHub returns a hub with no subscribers and no relay.
func NewHub() *Hub {
	return &Hub{subs: map[*subscriber]struct{}{}}
}

// Publish hands logs written on this replica to its subscribers, then to
// the relay. It never waits on a subscriber.
func (h *Hub) Publish(ctx context.Context, logs []schema.Log) {
	h.Deliver(logs...)
	h.mu.RLock()
	relay := h.relay
	h.mu.RUnlock()
	if relay != nil && len(logs) > 0 {
		relay(ctx, logs)
	}
}

// Deliver gives each log to the subscribers whose filter matches it; a
// subscriber with no room left is cut off (its socket closes with 1013).
// Other replicas' logs enter here.
func (h *Hub) Deliver(logs ...schema.Log) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		for _, l := range logs {
			if s.filter.Includes(l) && !s.out.Offer(l) {
				break
			}
		}
	}
}

// SetRelay installs what sends published logs to the other replicas.
func (h *Hub) SetRelay(relay func(context.Context, []schema.Log)) {
	h.mu.Lock()
	h.relay = relay
	h.mu.Unlock()
}

// Subscribers is how many /logs/out sockets this replica feeds.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

func (h *Hub) subscribe(f schema.LogFilter, limitBytes int64) *subscriber {
	s := &subscriber{filter: f, out: events.NewOutbox(limitBytes, logCost)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// logFrameOverhead is about what a log's frame holds besides its name and
// message: the keys, three ids and three times.
const logFrameOverhead = 320

// logCost is what a queued log counts against a subscriber's BufferBytes:
// about the bytes of its frame.
func logCost(l schema.Log) int64 {
	return int64(len(l.Message) + len(l.Name) + logFrameOverhead)
}
