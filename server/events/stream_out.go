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
// {"type":"event","event":ReceivedEvent}, never one event twice.
//
// The broker's subscriptions apply backpressure, so each socket has a pump
// that drains its subscription at once into a bounded buffer of its own: a
// client that falls BufferSize events behind is closed with 1013 instead of
// slowing the pipeline (Prefect drops events for it instead).
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
	logger := h.cfg.Logger.With("remote_addr", r.RemoteAddr, "websocket", "events/out")
	prefect := requestsSubprotocol(r, "prefect")
	if !prefect && h.cfg.AuthString != "" {
		http.Error(w, "'prefect' subprotocol required when auth is configured", http.StatusForbidden)
		return
	}
	opts := &websocket.AcceptOptions{}
	if prefect {
		opts.Subprotocols = []string{"prefect"}
	}
	s, err := accept(w, r, opts, h.cfg.Socket, logger)
	if err != nil {
		return
	}
	defer func() { _ = s.c.CloseNow() }()
	s.c.SetReadLimit(h.cfg.Socket.MaxMessageBytes)
	ctx := r.Context()
	defer s.keepAlive(ctx)()

	if prefect && !handshake(ctx, s, h.cfg.AuthString, h.cfg.HandshakeTimeout, "") {
		return
	}
	filter, backfill, ok := h.readFilter(ctx, s)
	if !ok {
		return
	}
	h.stream(ctx, s, filter, backfill)
}

func (h *outHandler) readFilter(ctx context.Context, s *socket) (schema.EventFilter, bool, bool) {
	rctx, cancel := context.WithTimeout(ctx, h.cfg.HandshakeTimeout)
	defer cancel()
	var f schema.EventFilter
	m, err := s.read(rctx, h.cfg.Socket.MaxMessageBytes)
	if err != nil {
		s.logger.Debug("websocket ended before filter", "error", err)
		s.ended(err)
		return f, false, false
	}
	defer m.release()
	var msg struct {
		Type     string          `json:"type"`
		Filter   json.RawMessage `json:"filter"`
		Backfill *bool           `json:"backfill"`
	}
	if json.Unmarshal(m.data, &msg) != nil || msg.Type != "filter" {
		s.closeWith(websocket.StatusProtocolError, "Expected 'filter' message")
		return f, false, false
	}
	if len(msg.Filter) > 0 && string(msg.Filter) != "null" {
		if err := json.Unmarshal(msg.Filter, &f); err != nil {
			s.closeWith(websocket.StatusProtocolError, "Invalid filter: "+err.Error())
			return f, false, false
		}
	}
	now := h.cfg.Now().UTC()
	f.Resolve(now)
	if earliest := now.Add(-h.cfg.MaxBackfill); f.Occurred.Since.Before(earliest) {
		f.Occurred.Since = &schema.DateTime{Time: earliest}
	}
	f.Order = "ASC"
	return f, msg.Backfill == nil || *msg.Backfill, true
}

func (h *outHandler) stream(ctx context.Context, s *socket, f schema.EventFilter, backfill bool) {
	c, logger := s.c, s.logger
	// The client sends nothing more; CloseRead reads the pongs and notices a close.
	ctx = c.CloseRead(ctx)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Subscribe before backfilling so nothing falls in between.
	sub := h.cfg.Subscriber.Subscribe("events-out", 64)
	buf := make(chan schema.Event, h.cfg.BufferSize)
	overflow := make(chan struct{})
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
			case e := <-sub.Events():
				if !f.Includes(e) {
					continue
				}
				select {
				case buf <- e:
				default:
					close(overflow)
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
				logger.Warn("backfilling events failed", "error", err)
				s.closeWith(websocket.StatusInternalError, "backfill failed")
				return
			}
			for _, e := range page {
				seen[e.ID] = struct{}{}
				if !h.send(ctx, c, e, logger) {
					return
				}
			}
			if len(page) < h.cfg.BackfillPageSize {
				break
			}
		}
	}
	fellBehind := func() {
		logger.Warn("events/out subscriber fell behind; closing", "buffered", len(buf))
		s.closeWith(websocket.StatusTryAgainLater, "subscriber fell too far behind the event stream")
	}
	for {
		select {
		case <-overflow: // checked first: what is still buffered is not sent
			fellBehind()
			return
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-overflow:
			fellBehind()
			return
		case e := <-buf:
			if _, dup := seen[e.ID]; dup {
				delete(seen, e.ID)
				continue
			}
			if !h.send(ctx, c, e, logger) {
				return
			}
		}
	}
}

func (h *outHandler) send(ctx context.Context, c *websocket.Conn, e schema.Event, logger *slog.Logger) bool {
	data, err := json.Marshal(struct {
		Type  string       `json:"type"`
		Event schema.Event `json:"event"`
	}{"event", e})
	if err != nil {
		logger.Warn("encoding event failed", "event_id", e.ID, "error", err)
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
	defer cancel()
	if err := c.Write(wctx, websocket.MessageText, data); err != nil {
		logger.Debug("events/out write failed", "error", err)
		return false
	}
	return true
}
