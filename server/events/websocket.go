package events

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"prefectgo.dev/prefectgo/server/schema"
)

// InConfig configures the /api/events/in WebSocket.
type InConfig struct {
	// Ingestor validates and publishes the events; required.
	Ingestor *Ingestor
	// AuthString is the server's basic-auth string (PREFECT_SERVER_API_AUTH_STRING,
	// "user:pass"); clients send it as the auth token. Empty disables auth.
	AuthString string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// HandshakeTimeout bounds the wait for the auth message; default 30s.
	HandshakeTimeout time.Duration
	// QueueSize is how many events may be read ahead of publishing, so the
	// socket keeps being read (and pings answered) while the broker is
	// briefly slow; default 64.
	QueueSize int
	// OriginPatterns allow browser cross-origin upgrades (see
	// websocket.AcceptOptions). Clients that send no Origin, like Prefect's,
	// are always allowed.
	OriginPatterns []string
	// Socket bounds each socket's time and memory.
	Socket SocketConfig
}

// InHandler serves WebSocket /api/events/in, where clients stream events: one
// JSON event per message, no acknowledgements. Clients confirm delivery with
// a ping: the pong means every earlier message was read, which the handler
// guarantees by reading continuously (the read-ahead queue) and by answering
// pings from the read itself.
//
// Protocol, as Prefect's accept_prefect_socket: a client asking for the
// "prefect" subprotocol gets it and must send {"type":"auth","token":...}
// first, answered with {"type":"auth_success"} or a 1008 close. A client not
// asking for it is served without a handshake, unless auth is configured:
// then the upgrade is refused with 403.
//
// An event over MaxSizeBytes is dropped with a warning in the log and the
// socket reads on, as Prefect's publisher refuses it without failing the
// stream. Any other invalid event closes the socket with 1008 (policy
// violation) and a reason naming the problem; it is not published, the
// events before it are. Prefect also ends the socket there (its validation
// error escapes the handler). While events cannot be stored (Ingestor.Ready)
// the socket is closed with 1013 (try again later) before the event just
// read is confirmed, and the client resends it after reconnecting. A message
// over Socket.MaxMessageBytes (16 MiB) is cut off by the WebSocket layer with
// 1009, as uvicorn does for Prefect.
//
// Memory: of a message over MaxSizeBytes only MaxSizeBytes+1 bytes are kept,
// the rest is read and counted; the bytes kept are charged to Socket.Budget
// until the event is published. Time: see SocketConfig (keep-alive pings and
// a deadline per message).
func InHandler(cfg InConfig) http.Handler {
	return &inHandler{
		ingest:           cfg.Ingestor,
		auth:             cfg.AuthString,
		logger:           cmp.Or(cfg.Logger, slog.Default()),
		handshakeTimeout: cmp.Or(cfg.HandshakeTimeout, 30*time.Second),
		queueSize:        cmp.Or(cfg.QueueSize, 64),
		origins:          cfg.OriginPatterns,
		sock:             cfg.Socket.WithDefaults(),
	}
}

type inHandler struct {
	ingest           *Ingestor
	auth             string
	logger           *slog.Logger
	handshakeTimeout time.Duration
	queueSize        int
	origins          []string
	sock             SocketConfig
}

func (h *inHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	logger := h.logger.With("remote_addr", r.RemoteAddr)
	prefect := requestsSubprotocol(r, "prefect")
	if !prefect && h.auth != "" {
		logger.Warn("websocket rejected: 'prefect' subprotocol required when auth is configured")
		http.Error(w, "'prefect' subprotocol required when auth is configured", http.StatusForbidden)
		return
	}
	opts := &websocket.AcceptOptions{OriginPatterns: h.origins}
	if prefect {
		opts.Subprotocols = []string{"prefect"}
	}
	s, err := accept(w, r, opts, h.sock, logger)
	if err != nil {
		logger.Debug("websocket upgrade failed", "error", err) // Accept has answered
		return
	}
	defer func() { _ = s.c.CloseNow() }()
	// An event over MaxSizeBytes is dropped, not fatal, so it must be read
	// even when the events limit is set above the message limit.
	s.c.SetReadLimit(max(h.ingest.Limits().MaxSizeBytes+1, h.sock.MaxMessageBytes))
	ctx := r.Context()
	defer s.keepAlive(ctx)()

	if prefect && !handshake(ctx, s, h.auth, h.handshakeTimeout, "") {
		return
	}
	h.serve(ctx, s)
}

// handshake runs Prefect's auth exchange on a "prefect" subprotocol socket
// and reports whether the client passed; a failing client is closed (1008)
// with a reason naming the failure, or with closeAs when it is set (the
// worker channel's one "authentication_failed").
func handshake(ctx context.Context, s *socket, auth string, timeout time.Duration, closeAs string) bool {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Far more than an auth message needs; anything longer is no auth message.
	m, err := s.read(hctx, freeMessageBytes)
	if err != nil {
		s.logger.Debug("websocket ended before auth", "error", err)
		s.ended(err)
		return false
	}
	m.release()
	var msg struct {
		Type  string  `json:"type"`
		Token *string `json:"token"`
	}
	refuse := func(reason string) bool {
		s.logger.Warn("websocket auth failed", "reason", reason)
		s.closeWith(websocket.StatusPolicyViolation, cmp.Or(closeAs, reason))
		return false
	}
	if json.Unmarshal(m.data, &msg) != nil || msg.Type != "auth" {
		return refuse("Expected 'auth' message")
	}
	if auth != "" {
		if msg.Token == nil || *msg.Token == "" {
			return refuse("Auth required but no token provided")
		}
		if subtle.ConstantTimeCompare([]byte(*msg.Token), []byte(auth)) != 1 {
			return refuse("Invalid token")
		}
	}
	if err := s.c.Write(hctx, websocket.MessageText, []byte(`{"type":"auth_success"}`)); err != nil {
		s.logger.Debug("websocket ended during auth", "error", err)
		return false
	}
	return true
}

// queued is an event read and not yet published, with the message bytes
// it still holds of the budget.
type queued struct {
	ev  schema.Event
	msg *message
}

// serve reads events until the client goes away or sends an invalid one,
// while a second goroutine publishes what was read.
func (h *inHandler) serve(ctx context.Context, s *socket) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan queued, h.queueSize)
	published := make(chan struct{})
	go func() {
		defer close(published)
		failed := false
		for q := range queue {
			if !failed {
				if err := h.ingest.Publish(ctx, q.ev); err != nil {
					// The client resends unconfirmed events after reconnecting.
					s.logger.Warn("publishing event failed; closing websocket", "event_id", q.ev.ID, "error", err)
					failed = true
					cancel()
				}
			}
			q.msg.release() // after a failure, only releases until the reader stops
		}
	}()

	code, reason := h.read(ctx, s, queue)
	close(queue)
	if code != 0 {
		s.closeWith(code, reason)
	}
	<-published
}

// read returns the close code and reason when the handler must close the
// socket, or 0 when the socket is gone or already closed.
func (h *inHandler) read(ctx context.Context, s *socket, queue chan<- queued) (websocket.StatusCode, string) {
	limits := h.ingest.Limits()
	for {
		m, err := s.read(ctx, limits.MaxSizeBytes+1)
		if err != nil {
			s.ended(err)
			return 0, ""
		}
		// A message cut at MaxSizeBytes+1 always fails Receive's size check.
		ev, err := h.ingest.Receive(m.data)
		var invalid *InvalidEventError
		if errors.As(err, &invalid) && invalid.TooLarge {
			m.release()
			s.logger.Warn("dropping event: "+limits.checkSize(m.size).Reason, "length", m.size)
			continue
		}
		if err != nil {
			m.release()
			s.logger.Warn("rejecting invalid event; closing websocket", "error", err)
			return websocket.StatusPolicyViolation, err.Error()
		}
		// Checked before the next read, which would answer the client's
		// checkpoint ping and so confirm this event: the client resends
		// it after reconnecting instead.
		if err := h.ingest.Ready(); err != nil {
			m.release()
			s.logger.Warn("refusing events that cannot be stored; closing websocket", "error", err)
			return websocket.StatusTryAgainLater, "Events cannot be stored now; retry later"
		}
		m.data = nil // the event is decoded; only the charge travels on
		select {
		case queue <- queued{ev, m}:
		case <-ctx.Done():
			m.release()
			return 0, ""
		}
	}
}

func logReadEnd(logger *slog.Logger, err error) {
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		logger.Warn("websocket message too large; closed with 1009", "error", err)
	case errors.Is(err, io.EOF), errors.Is(err, context.Canceled),
		websocket.CloseStatus(err) == websocket.StatusNormalClosure,
		websocket.CloseStatus(err) == websocket.StatusGoingAway:
		logger.Debug("websocket closed", "error", err)
	default:
		logger.Debug("websocket ended", "error", err)
	}
}

// closeReason fits a reason into a close frame (123 bytes), on a rune boundary.
func closeReason(s string) string {
	const maxReason = 123
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// requestsSubprotocol reports whether the upgrade request lists proto in any
// Sec-WebSocket-Protocol header.
func requestsSubprotocol(r *http.Request, proto string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == proto {
				return true
			}
		}
	}
	return false
}
