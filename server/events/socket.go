package events

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// SocketConfig bounds what one WebSocket may cost the server, in time and in
// memory; /api/events/in and /api/events/out share it.
type SocketConfig struct {
	// PingInterval is how long the server waits after a pong before pinging
	// again (PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL); default 20s.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take before the server gives up on
	// the client (PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT); default 20s.
	PingTimeout time.Duration
	// MaxMessageBytes is the largest message read at all; a larger one ends
	// the socket with 1009. Default 16 MiB, uvicorn's WebSocket max size
	// that Prefect runs with; the server passes PREFECT_SERVER_API_MAX_BODY_SIZE
	// (also 16 MiB by default), the bound on any other request body.
	MaxMessageBytes int64
	// Budget is shared by every socket of the server; nil means a budget of
	// budgetMessages × MaxMessageBytes. Set it once (WithDefaults) and pass
	// the same SocketConfig to both handlers to share it.
	Budget *Budget
}

// budgetMessages is how many largest-possible messages the default budget
// holds at once across all sockets.
const budgetMessages = 4

// WithDefaults fills the zero fields, creating the budget if there is none.
func (s SocketConfig) WithDefaults() SocketConfig {
	s.PingInterval = cmp.Or(s.PingInterval, 20*time.Second)
	s.PingTimeout = cmp.Or(s.PingTimeout, 20*time.Second)
	s.MaxMessageBytes = cmp.Or(s.MaxMessageBytes, 16<<20)
	if s.Budget == nil {
		s.Budget = NewBudget(budgetMessages * s.MaxMessageBytes)
	}
	return s
}

// freeMessageBytes of each message are not charged to the budget: an
// ordinary event (a few KiB) never waits on it, even when large messages
// have taken it all. It is also the per-socket floor the library itself
// assumes (its default read limit is 32 KiB).
const freeMessageBytes = 32 << 10

// closeGrace bounds a close handshake: the peer has that long to answer our
// close frame before the connection is dropped (the library's own timeout
// for each step of it).
const closeGrace = 5 * time.Second

var (
	errOverBudget     = errors.New("server busy: too many message bytes in flight")
	errMessageTimeout = errors.New("message not completed in time")
)

// socket is an accepted WebSocket with the bounds of its SocketConfig.
//
// Reading is bounded with read deadlines on the underlying connection: the
// library bounds a read by a context, but only while a read is under way, and
// its Close drains a half-sent frame with no bound at all, so a peer that
// stops mid-frame could hold Close (and the handler) forever. A deadline set
// before Close ends that drain.
type socket struct {
	c      *websocket.Conn
	cfg    SocketConfig
	logger *slog.Logger
	raw    net.Conn

	mu      sync.Mutex
	closing bool // set once: from then on the deadline is closeGrace's
}

// accept upgrades the request; on failure Accept has answered it.
func accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions, cfg SocketConfig, logger *slog.Logger) (*socket, error) {
	hw := &hijackRecorder{ResponseWriter: w}
	c, err := websocket.Accept(hw, r, opts)
	if err != nil {
		return nil, err
	}
	if hw.conn == nil { // Accept hijacks through hw; cannot happen
		_ = c.CloseNow()
		return nil, errors.New("websocket: connection not hijacked through the recorder")
	}
	// A hijacked connection keeps the deadlines the HTTP server set for the
	// request (its read and write timeouts); the socket sets its own.
	_ = hw.conn.SetDeadline(time.Time{})
	return &socket{c: c, cfg: cfg, logger: logger, raw: hw.conn}, nil
}

// hijackRecorder keeps the connection websocket.Accept hijacks, for its
// read deadlines.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = c
	return c, rw, err
}

func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// messageTimeout is how long a message may take once its first frame has
// come: one keep-alive cycle. A client inside a large frame cannot answer
// pings either, so a slower message would fail the keep-alive anyway; this
// also ends a message sent as many small frames with pongs in between.
func (s *socket) messageTimeout() time.Duration { return s.cfg.PingInterval + s.cfg.PingTimeout }

func (s *socket) setReadDeadline(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		_ = s.raw.SetReadDeadline(t)
	}
}

// closeWith sends a close frame and ends the connection within closeGrace
// (or the library's own write timeout), whatever the peer does.
func (s *socket) closeWith(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	s.closing = true
	_ = s.raw.SetReadDeadline(time.Now().Add(closeGrace))
	s.mu.Unlock()
	_ = s.c.Close(code, closeReason(reason))
}

// keepAlive pings the client every PingInterval (counted from the last
// pong) and closes the socket with 1011 when a pong takes longer than
// PingTimeout, as uvicorn's keep-alive does for Prefect. Pongs are read by
// whoever reads the socket, so the handler must keep a read going. stop ends
// the pings and waits for them.
func (s *socket) keepAlive(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTimer(s.cfg.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
			err := s.c.Ping(pctx)
			pcancel()
			if err == nil {
				t.Reset(s.cfg.PingInterval)
				continue
			}
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				s.logger.Warn("websocket answered no ping; closing", "ping_timeout", s.cfg.PingTimeout)
				s.closeWith(websocket.StatusInternalError, "keepalive ping timeout")
			}
			return
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// message is one message read off a socket. Its bytes stay charged to the
// budget until release.
type message struct {
	data []byte
	// size is the whole message's length: more than len(data) when the
	// message was longer than what the reader keeps.
	size    int64
	charged int64
	budget  *Budget
}

func (m *message) release() {
	m.budget.give(m.charged)
	m.charged = 0
}

// charge is what a buffer of capacity n costs the budget.
func charge(n int) int64 { return max(0, int64(n)-freeMessageBytes) }

// read reads the next message, keeping at most keep bytes of it: the rest is
// read, counted in size and thrown away (the caller only needs to know the
// message was too long). Waiting for a message is bounded by the keep-alive;
// reading it, by messageTimeout. A message that does not fit the budget is
// read to its end and thrown away, and read returns errOverBudget.
func (s *socket) read(ctx context.Context, keep int64) (*message, error) {
	_, r, err := s.c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	s.setReadDeadline(time.Now().Add(s.messageTimeout()))
	defer s.setReadDeadline(time.Time{})

	m := &message{budget: s.cfg.Budget}
	buf := make([]byte, 0, min(keep, 4<<10))
	over := false
	for {
		if len(buf) == cap(buf) && int64(len(buf)) < keep && !over {
			grown := int(min(keep, int64(2*cap(buf))))
			extra := charge(grown) - charge(cap(buf))
			if extra == 0 || s.cfg.Budget.take(extra) {
				m.charged += extra
				buf = append(make([]byte, 0, grown), buf...)
			} else {
				over = true
			}
		}
		if len(buf) == cap(buf) { // kept all it may: count the rest
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return nil, s.readFailed(m, over, err)
			}
			m.size = int64(len(buf)) + n
			break
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			m.size = int64(len(buf))
			break
		}
		if err != nil {
			return nil, s.readFailed(m, over, err)
		}
	}
	if over {
		m.release()
		return nil, errOverBudget
	}
	m.data = buf
	return m, nil
}

// readFailed releases what m holds and names the cause of a failed read:
// the budget when the message was refused already, the message deadline
// when that expired.
func (s *socket) readFailed(m *message, over bool, err error) error {
	m.release()
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	switch {
	case closing || !errors.Is(err, os.ErrDeadlineExceeded):
		return err
	case over:
		return fmt.Errorf("%w: %w", errOverBudget, err)
	default:
		return fmt.Errorf("%w: %w", errMessageTimeout, err)
	}
}

// ended handles a failed read: it closes the socket when the failure is the
// server's decision (budget, message deadline) and logs why it ended.
func (s *socket) ended(err error) {
	switch {
	case errors.Is(err, errOverBudget):
		st := s.cfg.Budget.Stats()
		s.logger.Warn("websocket message over the in-flight memory budget; closed with 1013",
			"budget_bytes", st.Limit, "in_use_bytes", st.InUse)
		s.closeWith(websocket.StatusTryAgainLater, errOverBudget.Error()+"; try again later")
	case errors.Is(err, errMessageTimeout):
		s.logger.Warn("websocket message not completed in time; closing", "timeout", s.messageTimeout())
		s.closeWith(websocket.StatusPolicyViolation, fmt.Sprintf("message not completed within %s", s.messageTimeout()))
	default:
		logReadEnd(s.logger, err)
	}
}
