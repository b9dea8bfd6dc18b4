package logstream

import (
	"cmp"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
)

// OutConfig configures the /logs/out WebSocket.
type OutConfig struct {
	// Hub feeds the subscribers; nil while stream-out is off
	// (PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED): sockets are then served and
	// sent nothing, as Prefect's are.
	Hub *Hub
	// AuthString as events.InConfig.AuthString.
	AuthString string
	// BufferBytes is how far, in bytes of log frames, a subscriber may fall
	// behind before its socket is closed (1013); default 32 MiB, two of
	// the largest POST /logs bodies by default, so that one batch never
	// overflows a subscriber that keeps up.
	BufferBytes int64
	// WriteTimeout bounds one frame write; default 10s.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the wait for the auth and filter messages; default 30s.
	HandshakeTimeout time.Duration
	// Socket bounds each socket's time and memory (shared with the other
	// WebSockets).
	Socket events.SocketConfig
	Logger *slog.Logger
}

// OutHandler serves WebSocket /logs/out (Prefect's stream_logs_out): after
// the auth handshake the client sends {"type":"filter","filter":LogFilter};
// the server then sends each log written from then on that matches it, as
// {"type":"log","log":Log}. A message of another type, or a filter that is
// not a LogFilter (a key it does not declare included, as Prefect's filters
// forbid them), closes the socket with 1002 and Prefect's reason. What the
// client sends afterwards is read and ignored.
func OutHandler(cfg OutConfig) http.Handler {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.BufferBytes = cmp.Or(cfg.BufferBytes, 32<<20)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, 10*time.Second)
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, 30*time.Second)
	cfg.Socket = cfg.Socket.WithDefaults()
	return &outHandler{cfg}
}

type outHandler struct{ cfg OutConfig }

func (h *outHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := events.AcceptPrefectSocket(w, r, events.PrefectSocketConfig{AuthString: h.cfg.AuthString,
		HandshakeTimeout: h.cfg.HandshakeTimeout, Socket: h.cfg.Socket, Logger: h.cfg.Logger})
	if p == nil {
		return
	}
	defer p.Done()
	var f schema.LogFilter
	if _, ok := p.ReadFilter(r.Context(), h.cfg.HandshakeTimeout, func(raw json.RawMessage) error { return decodeFilter(raw, &f) }); !ok {
		return
	}
	// Subscribed before the socket is read again: a client whose ping is
	// answered after its filter is subscribed (the tests wait so).
	var sub *subscriber
	if h.cfg.Hub != nil {
		sub = h.cfg.Hub.subscribe(f, h.cfg.BufferBytes)
		defer h.cfg.Hub.unsubscribe(sub)
	}
	ctx, stop := p.Listen(r.Context())
	defer stop()
	if sub == nil {
		<-ctx.Done()
		return
	}
	events.SendOutbox(ctx, p, sub.out, h.cfg.WriteTimeout, func(l schema.Log) []byte {
		data, err := json.Marshal(struct {
			Type string     `json:"type"`
			Log  schema.Log `json:"log"`
		}{"log", l})
		if err != nil { // a stored log always encodes
			p.Logger().Warn("encoding log failed", "log_id", l.ID, "error", err)
			return nil
		}
		return data
	}, "subscriber fell too far behind the log stream")
}

// decodeFilter reads a LogFilter as Prefect's LogFilter.model_validate
// does: an object (not null, not absent), with no key it does not declare.
func decodeFilter(raw json.RawMessage, f *schema.LogFilter) error {
	if len(raw) == 0 || string(raw) == "null" {
		return invalidFilter("Input should be a valid dictionary or instance of LogFilter")
	}
	if err := json.Unmarshal(raw, f); err != nil {
		return err
	}
	if loc := schema.UnknownKey(f, raw); loc != nil {
		return invalidFilter(strings.Join(loc, ".") + ": Extra inputs are not permitted")
	}
	return nil
}

// invalidFilter is why a filter is refused, in pydantic's words (the close
// reason the client sees).
type invalidFilter string

func (e invalidFilter) Error() string { return string(e) }
