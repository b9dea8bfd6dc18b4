package events

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// PrefectSocketConfig configures AcceptPrefectSocket.
type PrefectSocketConfig struct {
	// AuthString as InConfig.AuthString.
	AuthString string
	// HandshakeTimeout bounds the wait for the auth message; default 30s.
	HandshakeTimeout time.Duration
	// Socket bounds the socket's time and memory; its read limit is
	// Socket.MaxMessageBytes.
	Socket SocketConfig
	Logger *slog.Logger
}

// PrefectSocket is a WebSocket accepted as /events/in and /events/out accept
// theirs (Prefect's accept_prefect_socket), for the handlers of other
// packages: with the "prefect" subprotocol, after the auth message; without
// it, only while auth is off. The keep-alive pings run until Done, so the
// handler must keep a Read going.
type PrefectSocket struct {
	s    *socket
	stop func()
}

// AcceptPrefectSocket upgrades the request and runs the handshake. It
// returns nil when the client was refused or went away; the answer (403,
// or a 1008 close) has been sent.
func AcceptPrefectSocket(w http.ResponseWriter, r *http.Request, cfg PrefectSocketConfig) *PrefectSocket {
	logger := cmp.Or(cfg.Logger, slog.Default()).With("remote_addr", r.RemoteAddr, "path", r.URL.Path)
	sock := cfg.Socket.WithDefaults()
	prefect := requestsSubprotocol(r, "prefect")
	if !prefect && cfg.AuthString != "" {
		http.Error(w, "'prefect' subprotocol required when auth is configured", http.StatusForbidden)
		return nil
	}
	opts := &websocket.AcceptOptions{}
	if prefect {
		opts.Subprotocols = []string{"prefect"}
	}
	s, err := accept(w, r, opts, sock, logger)
	if err != nil {
		return nil
	}
	s.c.SetReadLimit(sock.MaxMessageBytes)
	p := &PrefectSocket{s: s, stop: s.keepAlive(r.Context())}
	if prefect && !handshake(r.Context(), s, cfg.AuthString, cmp.Or(cfg.HandshakeTimeout, 30*time.Second), "") {
		p.Done()
		return nil
	}
	return p
}

// Read returns the next message, of which it keeps at most keep bytes; size
// is the whole message's length. On an error the socket is over: Read has
// closed it when the failure was the server's decision (memory budget,
// message deadline) and logged why it ended.
func (p *PrefectSocket) Read(ctx context.Context, keep int64) (data []byte, size int64, err error) {
	m, err := p.s.read(ctx, keep)
	if err != nil {
		p.s.ended(err)
		return nil, 0, err
	}
	m.release()
	return m.data, m.size, nil
}

// Write sends one text message.
func (p *PrefectSocket) Write(ctx context.Context, data []byte) error {
	return p.s.c.Write(ctx, websocket.MessageText, data)
}

// Close sends a close frame with code and reason and ends the connection
// within a bounded time, whatever the peer does.
func (p *PrefectSocket) Close(code websocket.StatusCode, reason string) {
	p.s.closeWith(code, reason)
}

// Done stops the pings and drops the connection; call it once the handler
// is finished with the socket.
func (p *PrefectSocket) Done() {
	p.stop()
	_ = p.s.c.CloseNow()
}

// Logger is the socket's logger, naming the client.
func (p *PrefectSocket) Logger() *slog.Logger { return p.s.logger }
