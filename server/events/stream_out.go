package events

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// EventReader reads stored events for backfill.
type EventReader interface {
	QueryEvents(ctx context.Context, f schema.EventFilter, offset, limit int) ([]schema.Event, error)
}

// OutConfig configures the /api/events/out WebSocket.
type OutConfig struct {
	// Subscriber provides the live stream; required.
	Subscriber Subscriber
	// Store backfills past events; nil disables backfill.
	Store EventReader
	// AuthString as InConfig.AuthString.
	AuthString string
	// MaxBackfill is how far back backfill reaches
	// (PREFECT_SERVER_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL); zero backfills
	// nothing older than the subscription.
	MaxBackfill time.Duration
	// BackfillPageSize is how many events each backfill query reads; default 250.
	BackfillPageSize int
	// BufferSize is how many live events may wait for one slow client before
	// its socket is closed (1013); default 1000.
	BufferSize int
	// WriteTimeout bounds one frame write; default 10s.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the wait for the auth and filter messages; default 30s.
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
	// Socket bounds each socket's time and memory.
	Socket SocketConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// OutHandler serves WebSocket /api/events/out (Prefect's
// stream_workspace_events_out): after the auth handshake the client sends
// {"type":"filter","filter":EventFilter,"backfill":bool}; the server sends
// stored matching events since now-MaxBackfill (oldest first) unless
// backfill is false, then live matching events, each as
// {"type":"event","event":ReceivedEvent}, never one event twice. What the
// client sends after the filter is read and ignored, as Prefect does.
//
// The broker's subscriptions apply backpressure, so each socket has a pump
// that drains its subscription at once into a bounded queue of its own (an
// Outbox): a client that falls BufferSize events behind is closed with 1013
// instead of slowing the pipeline (Prefect drops events for it instead).
//
// The filter message may be up to Socket.MaxMessageBytes
// (PREFECT_SERVER_API_MAX_BODY_SIZE, 16 MiB by default like uvicorn's limit):
// it is a request body in all but name, and no event limit applies to it.
func OutHandler(cfg OutConfig) http.Handler {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.BackfillPageSize = cmp.Or(cfg.BackfillPageSize, 250)
	cfg.BufferSize = cmp.Or(cfg.BufferSize, 1000)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, 10*time.Second)
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, 30*time.Second)
	cfg.Socket = cfg.Socket.WithDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &outHandler{cfg}
}

type outHandler struct{ cfg OutConfig }

func (h *outHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := AcceptPrefectSocket(w, r, PrefectSocketConfig{AuthString: h.cfg.AuthString,
		HandshakeTimeout: h.cfg.HandshakeTimeout, Socket: h.cfg.Socket, Logger: h.cfg.Logger})
	if p == nil {
		return
	}
	defer p.Done()
	var f schema.EventFilter
	backfill, ok := p.ReadFilter(r.Context(), h.cfg.HandshakeTimeout, func(raw json.RawMessage) error {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		return json.Unmarshal(raw, &f)
	})
	if !ok {
		return
	}
	now := h.cfg.Now().UTC()
	f.Resolve(now)
	if earliest := now.Add(-h.cfg.MaxBackfill); f.Occurred.Since.Before(earliest) {
		f.Occurred.Since = &schema.DateTime{Time: earliest}
	}
	f.Order = "ASC"
	h.stream(r.Context(), p, f, backfill == nil || *backfill)
}

func (h *outHandler) stream(ctx context.Context, p *PrefectSocket, f schema.EventFilter, backfill bool) {
	// The client sends nothing more; reading takes the pongs and notices a close.
	ctx, stopListening := p.Listen(ctx)
	defer stopListening()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Subscribe before backfilling so nothing falls in between: what was
	// published before the subscription is either in the store or, not yet
	// written by the persister, among the recent events.
	var sub *Subscription
	var recent []*schema.Event
	if rs, ok := h.cfg.Subscriber.(RecentSubscriber); ok && backfill {
		sub, recent = rs.SubscribeRecent("events-out", 64)
	} else {
		sub = h.cfg.Subscriber.Subscribe("events-out", 64)
	}
	out := NewOutbox[schema.Event](int64(h.cfg.BufferSize), nil)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		// Unsubscribing as soon as the pump stops keeps a gone or slow
		// client from ever holding up Publish.
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-sub.Events():
				if e := *p; f.Includes(e) && !out.Offer(e) {
					return
				}
			}
		}
	}()
	defer func() {
		cancel()
		sub.Close()
		<-pumped
	}()

	seen := map[uuid.UUID]struct{}{}
	if backfill && h.cfg.Store != nil {
		for offset := 0; ; offset += h.cfg.BackfillPageSize {
			page, err := h.cfg.Store.QueryEvents(ctx, f, offset, h.cfg.BackfillPageSize)
			if ctx.Err() != nil {
				return // the client went away during the backfill
			}
			if err != nil {
				p.Logger().Warn("backfilling events failed", "error", err)
				p.Close(websocket.StatusInternalError, "backfill failed")
				return
			}
			for _, e := range page {
				seen[e.ID] = struct{}{}
				if !h.send(ctx, p, e) {
					return
				}
			}
			if len(page) < h.cfg.BackfillPageSize {
				break
			}
		}
		for _, e := range recent {
			if _, dup := seen[e.ID]; dup || !f.Includes(*e) {
				continue
			}
			if !h.send(ctx, p, *e) {
				return
			}
		}
	}
	SendOutbox(ctx, p, out, h.cfg.WriteTimeout, func(e schema.Event) []byte {
		if _, dup := seen[e.ID]; dup {
			delete(seen, e.ID)
			return nil
		}
		return eventFrame(p, e)
	}, "subscriber fell too far behind the event stream")
}

// eventFrame is the message that carries e, or nil when it does not encode.
func eventFrame(p *PrefectSocket, e schema.Event) []byte {
	data, err := json.Marshal(struct {
		Type  string       `json:"type"`
		Event schema.Event `json:"event"`
	}{"event", e})
	if err != nil {
		p.Logger().Warn("encoding event failed", "event_id", e.ID, "error", err)
		return nil
	}
	return data
}

func (h *outHandler) send(ctx context.Context, p *PrefectSocket, e schema.Event) bool {
	data := eventFrame(p, e)
	if data == nil {
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
	defer cancel()
	if err := p.Write(wctx, data); err != nil {
		p.Logger().Debug("events/out write failed", "error", err)
		return false
	}
	return true
}
