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

// maxMessageBytes is the largest WebSocket message read at all, uvicorn's
// default that Prefect runs with; a larger one ends the socket with 1009.
// An event between Limits.MaxSizeBytes and this is read and dropped.
const maxMessageBytes = 16 << 20

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
// read is confirmed, and the client resends it after reconnecting. A message over 16 MiB is cut off by the
// WebSocket layer with 1009, as uvicorn does for Prefect.
func InHandler(cfg InConfig) http.Handler {
	return &inHandler{
		ingest:           cfg.Ingestor,
		auth:             cfg.AuthString,
		logger:           cmp.Or(cfg.Logger, slog.Default()),
		handshakeTimeout: cmp.Or(cfg.HandshakeTimeout, 30*time.Second),
		queueSize:        cmp.Or(cfg.QueueSize, 64),
		origins:          cfg.OriginPatterns,
	}
}

type inHandler struct {
	ingest           *Ingestor
	auth             string
	logger           *slog.Logger
	handshakeTimeout time.Duration
	queueSize        int
	origins          []string
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
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		logger.Debug("websocket upgrade failed", "error", err) // Accept has answered
		return
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(max(h.ingest.Limits().MaxSizeBytes+1, maxMessageBytes))

	ctx := r.Context()
	if prefect && !h.handshake(ctx, c, logger) {
		return
	}
	h.serve(ctx, c, logger)
}

// handshake runs the auth exchange and reports whether the client passed.
func (h *inHandler) handshake(ctx context.Context, c *websocket.Conn, logger *slog.Logger) bool {
	return handshake(ctx, c, h.auth, h.handshakeTimeout, logger)
}

// handshake runs Prefect's auth exchange on a "prefect" subprotocol socket
// and reports whether the client passed; a failing client is closed (1008).
func handshake(ctx context.Context, c *websocket.Conn, auth string, timeout time.Duration, logger *slog.Logger) bool {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, data, err := c.Read(hctx)
	if err != nil {
		logger.Debug("websocket ended before auth", "error", err)
		return false
	}
	var msg struct {
		Type  string  `json:"type"`
		Token *string `json:"token"`
	}
	if json.Unmarshal(data, &msg) != nil || msg.Type != "auth" {
		return refuse(c, logger, "Expected 'auth' message")
	}
	if auth != "" {
		if msg.Token == nil || *msg.Token == "" {
			return refuse(c, logger, "Auth required but no token provided")
		}
		if subtle.ConstantTimeCompare([]byte(*msg.Token), []byte(auth)) != 1 {
			return refuse(c, logger, "Invalid token")
		}
	}
	if err := c.Write(hctx, websocket.MessageText, []byte(`{"type":"auth_success"}`)); err != nil {
		logger.Debug("websocket ended during auth", "error", err)
		return false
	}
	return true
}

func refuse(c *websocket.Conn, logger *slog.Logger, reason string) bool {
	logger.Warn("websocket auth failed", "reason", reason)
	_ = c.Close(websocket.StatusPolicyViolation, reason)
	return false
}

// serve reads events until the client goes away or sends an invalid one,
// while a second goroutine publishes what was read.
func (h *inHandler) serve(ctx context.Context, c *websocket.Conn, logger *slog.Logger) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan schema.Event, h.queueSize)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for ev := range queue {
			if err := h.ingest.Publish(ctx, ev); err != nil {
				// The client resends unconfirmed events after reconnecting.
				logger.Warn("publishing event failed; closing websocket", "event_id", ev.ID, "error", err)
				cancel()
				return
			}
		}
	}()

	code, reason := h.read(ctx, c, queue, logger)
	close(queue)
	if code != 0 {
		_ = c.Close(code, reason)
	}
	<-published
}

// read returns the close code and reason when the handler must close the
// socket, or 0 when the socket is already gone.
func (h *inHandler) read(ctx context.Context, c *websocket.Conn, queue chan<- schema.Event, logger *slog.Logger) (websocket.StatusCode, string) {
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			logReadEnd(logger, err)
			return 0, ""
		}
		ev, err := h.ingest.Receive(data)
		var invalid *InvalidEventError
		if errors.As(err, &invalid) && invalid.TooLarge {
			logger.Warn("dropping event: "+invalid.Reason, "length", len(data))
			continue
		}
		if err != nil {
			logger.Warn("rejecting invalid event; closing websocket", "error", err)
			return websocket.StatusPolicyViolation, closeReason(err.Error())
		}
		// Checked before the next read, which would answer the client's
		// checkpoint ping and so confirm this event: the client resends
		// it after reconnecting instead.
		if err := h.ingest.Ready(); err != nil {
			logger.Warn("refusing events that cannot be stored; closing websocket", "error", err)
			return websocket.StatusTryAgainLater, closeReason("Events cannot be stored now; retry later")
		}
		select {
		case queue <- ev:
		case <-ctx.Done():
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
