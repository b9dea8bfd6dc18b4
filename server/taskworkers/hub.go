package taskworkers

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// PollInterval is how often a replica looks in the queue for runs of the
// keys its workers serve that it was not told of: queued by another
// replica, or released.
const PollInterval = time.Second

// ClaimTTL is how long a claim lives without renewal before any replica may
// release it; the replica holding it renews it every ClaimTTL/3.
const ClaimTTL = 30 * time.Second

// Config configures the Hub.
type Config struct {
	// Store holds the queue; required.
	Store store.TaskRunQueue
	// AuthString as events.InConfig.AuthString.
	AuthString string
	// Socket bounds each socket (shared with the events WebSockets).
	Socket events.SocketConfig
	// HandshakeTimeout bounds the wait for the auth and subscribe messages;
	// default 30s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds sending one run; default 10s.
	WriteTimeout time.Duration
	// ClaimTTL defaults to ClaimTTL.
	ClaimTTL time.Duration
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Hub serves the task workers subscribed to this replica: their WebSocket
// (ServeHTTP), their wake-ups (Wake, Poll) and their list (Workers).
type Hub struct {
	cfg     Config
	workers tracker

	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{} // by task key

	lastSweep time.Time // Poll's alone
}

// subscriber is one subscribed socket.
type subscriber struct {
	keys []string
	// wake holds one pending wake-up: the socket claims until the queue
	// has nothing more for it, so one is as good as many.
	wake chan struct{}
}

func (s *subscriber) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// New returns a hub over cfg.Store.
func New(cfg Config) *Hub {
	cfg.Socket = cfg.Socket.WithDefaults()
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, 30*time.Second)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, 10*time.Second)
	cfg.ClaimTTL = cmp.Or(cfg.ClaimTTL, ClaimTTL)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Hub{cfg: cfg, subs: map[string]map[*subscriber]struct{}{}}
}

// Wake tells this replica's subscribers of taskKey that a run of it was
// queued (runs.Config.Enqueued).
func (h *Hub) Wake(taskKey string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[taskKey] {
		s.poke()
	}
}

// Workers lists the task workers subscribed to this replica that serve any
// of keys, or all of them when keys is empty.
func (h *Hub) Workers(keys []string) []schema.TaskWorker { return h.workers.list(keys) }

func (h *Hub) subscribe(keys []string) *subscriber {
	s := &subscriber{keys: keys, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		if h.subs[k] == nil {
			h.subs[k] = map[*subscriber]struct{}{}
		}
		h.subs[k][s] = struct{}{}
	}
	return s
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range s.keys {
		delete(h.subs[k], s)
		if len(h.subs[k]) == 0 {
			delete(h.subs, k)
		}
	}
}

func (h *Hub) subscribedKeys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.subs))
	for k := range h.subs {
		out = append(out, k)
	}
	return out
}

// Poll is one pass of the replica's loop (every PollInterval): it marks the
// connected workers seen, releases the claims gone stale (every ClaimTTL/3)
// and wakes the subscribers of every key with unclaimed runs. A replica
// without subscribers does nothing.
func (h *Hub) Poll(ctx context.Context) error {
	now := h.cfg.Now()
	h.workers.seeAll(now)
	keys := h.subscribedKeys()
	if len(keys) == 0 {
		return nil
	}
	if now.Sub(h.lastSweep) >= h.cfg.ClaimTTL/3 {
		n, err := h.cfg.Store.ReleaseStaleTaskRunClaims(ctx, now.Add(-h.cfg.ClaimTTL))
		if err != nil {
			return err
		}
		h.lastSweep = now
		if n > 0 {
			h.cfg.Logger.Warn("released background task runs whose claims went stale (their server stopped renewing them)", "runs", n)
		}
	}
	queued, err := h.cfg.Store.QueuedTaskKeys(ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range queued {
		h.Wake(k)
	}
	return nil
}
