package events

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// What the stream-out sockets (/events/out here, /logs/out in
// server/logstream) share past Prefect's handshake: the filter message,
// a client read only for its pongs and close, and a bounded queue per
// client drained onto the socket.

// ReadFilter reads the message a stream-out client sends after the
// handshake, {"type":"filter","filter":{...}}, as Prefect's
// stream_workspace_events_out and stream_logs_out do, and hands the filter
// to decode. Any other message is closed with 1002 "Expected 'filter'
// message"; a filter decode refuses, with 1002 "Invalid filter: " and its
// error. It returns the message's backfill flag (nil when absent) and
// whether the stream goes on. The message may be up to
// Socket.MaxMessageBytes (it is a request body in all but name); its bytes
// are charged to the budget until decoded.
func (p *PrefectSocket) ReadFilter(ctx context.Context, timeout time.Duration, decode func(json.RawMessage) error) (backfill *bool, ok bool) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := p.s.read(rctx, p.s.cfg.MaxMessageBytes)
	if err != nil {
		p.s.logger.Debug("websocket ended before filter", "error", err)
		p.s.ended(err)
		return nil, false
	}
	defer m.release()
	var msg struct {
		Type     string          `json:"type"`
		Filter   json.RawMessage `json:"filter"`
		Backfill *bool           `json:"backfill"`
	}
	if json.Unmarshal(m.data, &msg) != nil || msg.Type != "filter" {
		p.Close(websocket.StatusProtocolError, "Expected 'filter' message")
		return nil, false
	}
	if err := decode(msg.Filter); err != nil {
		p.Close(websocket.StatusProtocolError, "Invalid filter: "+err.Error())
		return nil, false
	}
	return msg.Backfill, true
}

// Listen reads and drops whatever the client sends from now on, as
// Prefect's stream-out sockets ignore it: the reads take the pongs and
// notice a close. The returned context ends with the socket; stop ends the
// reading and waits for it.
func (p *PrefectSocket) Listen(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		for {
			// Nothing is kept: a message is read to its end and counted.
			if _, _, err := p.Read(ctx, 0); err != nil {
				return
			}
		}
	}()
	return ctx, func() {
		cancel()
		<-done
	}
}

// Outbox is one stream-out client's queue (/events/out, /logs/out): the
// producer offers without ever waiting, and a client that falls Limit
// behind is cut off rather than slowing what produces for it. What "behind"
// counts is the cost of each item: 1 per event, the bytes of a log line.
type Outbox[T any] struct {
	limit int64
	cost  func(T) int64

	mu         sync.Mutex
	items      []T
	used       int64
	overflowed bool
	ready      chan struct{} // holds one wake-up: items queued, or overflow
}

// NewOutbox returns an empty outbox holding items of total cost up to limit
// (cost nil counts 1 per item).
func NewOutbox[T any](limit int64, cost func(T) int64) *Outbox[T] {
	if cost == nil {
		cost = func(T) int64 { return 1 }
	}
	return &Outbox[T]{limit: max(limit, 1), cost: cost, ready: make(chan struct{}, 1)}
}

// Offer queues v and reports whether it was taken. When v does not fit, the
// outbox overflows for good: v and everything after it are refused, and the
// sender closes the stream. One item costlier than the limit fits an empty
// outbox, so no single item is refused for its size alone.
func (o *Outbox[T]) Offer(v T) bool {
	c := o.cost(v)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.overflowed {
		return false
	}
	if o.used > 0 && o.used+c > o.limit {
		o.overflowed, o.items = true, nil
		o.wake()
		return false
	}
	o.items = append(o.items, v)
	o.used += c
	o.wake()
	return true
}

func (o *Outbox[T]) wake() {
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// take waits for queued items and returns them all, oldest first; overflow
// is true once the client fell behind (what was still queued is dropped).
// The items stay counted against the limit until sent says they went out.
func (o *Outbox[T]) take(ctx context.Context) (items []T, overflow bool, err error) {
	for {
		o.mu.Lock()
		items, overflow = o.items, o.overflowed
		o.items = nil
		o.mu.Unlock()
		if overflow || len(items) > 0 {
			return items, overflow, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-o.ready:
		}
	}
}

// sent gives back the cost of an item written to the client.
func (o *Outbox[T]) sent(v T) {
	c := o.cost(v)
	o.mu.Lock()
	o.used -= c
	o.mu.Unlock()
}

// SendOutbox writes what o receives to the client, one message per item
// from frame (nil skips the item), until ctx ends, a write fails, or the
// client falls behind: then the socket is closed with 1013 and behind as
// the reason. Writes are bounded by writeTimeout each.
func SendOutbox[T any](ctx context.Context, p *PrefectSocket, o *Outbox[T], writeTimeout time.Duration,
	frame func(T) []byte, behind string) {
	for {
		items, overflow, err := o.take(ctx)
		if err != nil {
			return
		}
		if overflow {
			p.Logger().Warn("stream-out subscriber fell behind; closing", "reason", behind)
			p.Close(websocket.StatusTryAgainLater, behind)
			return
		}
		for _, v := range items {
			if data := frame(v); data != nil {
				wctx, cancel := context.WithTimeout(ctx, writeTimeout)
				err := p.Write(wctx, data)
				cancel()
				if err != nil {
					p.Logger().Debug("stream-out write failed", "error", err)
					return
				}
			}
			o.sent(v)
		}
	}
}
