package taskworkers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/store"
)

// statusProtocolViolation is the close code of Prefect's task-run
// subscription for a client that breaks its protocol.
const statusProtocolViolation websocket.StatusCode = 4001

// Prefect's reasons, word for word.
const (
	expectedSubscribe = "Protocol violation: expected 'subscribe' message"
	expectedKeys      = "Protocol violation: expected 'keys' in subscribe message"
	expectedClientID  = "Protocol violation: expected 'client_id' in subscribe message"
	expectedAck       = "Protocol violation: expected 'ack' message"
)

// subscription is what a task worker subscribed with.
type subscription struct {
	keys     []string
	clientID string
}

// ServeHTTP serves WebSocket /task_runs/subscriptions/scheduled as Prefect's
// scheduled_task_subscription: after the Prefect handshake the client sends
// {"type":"subscribe","keys":[task keys],"client_id":id}; the server then
// sends the queued runs of those keys one at a time as TaskRun JSON, each
// answered with {"type":"ack"} before the next is sent. A run not acked (the
// socket ends, the client says {"type":"quit"}, or anything else) goes back
// to the queue ahead of the runs never sent; Prefect keeps a run answered
// with quit from being sent again, which loses it. A broken subscribe or
// ack closes the socket with 4001 and Prefect's reason; a message while no
// run is out is read and ignored, as Prefect's liveness check does.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := events.AcceptPrefectSocket(w, r, events.PrefectSocketConfig{AuthString: h.cfg.AuthString,
		HandshakeTimeout: h.cfg.HandshakeTimeout, Socket: h.cfg.Socket, Logger: h.cfg.Logger})
	if p == nil {
		return
	}
	defer p.Done()
	sub, ok := h.readSubscribe(r.Context(), p)
	if !ok {
		return
	}
	h.serve(r.Context(), p, sub)
}

// readSubscribe reads and checks the subscribe message, closing the socket
// when it is not one.
func (h *Hub) readSubscribe(ctx context.Context, p *events.PrefectSocket) (subscription, bool) {
	rctx, cancel := context.WithTimeout(ctx, h.cfg.HandshakeTimeout)
	defer cancel()
	data, _, err := p.Read(rctx, h.cfg.Socket.MaxMessageBytes)
	if err != nil {
		return subscription{}, false
	}
	var msg struct {
		Type     string          `json:"type"`
		Keys     json.RawMessage `json:"keys"`
		ClientID json.RawMessage `json:"client_id"`
	}
	// Prefect drops the connection on a message that is no JSON object;
	// here it gets the same close as a message of another type.
	if json.Unmarshal(data, &msg) != nil || msg.Type != "subscribe" {
		p.Close(statusProtocolViolation, expectedSubscribe)
		return subscription{}, false
	}
	var sub subscription
	if json.Unmarshal(msg.Keys, &sub.keys) != nil || len(sub.keys) == 0 {
		p.Close(statusProtocolViolation, expectedKeys)
		return subscription{}, false
	}
	if json.Unmarshal(msg.ClientID, &sub.clientID) != nil || sub.clientID == "" {
		p.Close(statusProtocolViolation, expectedClientID)
		return subscription{}, false
	}
	return sub, true
}

// serve hands the subscriber its runs until the socket ends.
func (h *Hub) serve(ctx context.Context, p *events.PrefectSocket, sub subscription) {
	ctx, cancel := context.WithCancel(ctx)
	// The socket is read all along: for the acks, and so that pongs are
	// read and a close is noticed while nothing is sent.
	msgs := make(chan []byte)
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(msgs)
		for {
			data, _, err := p.Read(ctx, h.cfg.Socket.MaxMessageBytes)
			if err != nil {
				return
			}
			select {
			case msgs <- data:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-read
	}()

	log := p.Logger().With("client_id", sub.clientID)
	log.Info("task worker subscribed", "task_keys", sub.keys)
	h.workers.connect(sub.clientID, sub.keys, h.cfg.Now())
	defer h.workers.disconnect(sub.clientID)
	s := h.subscribe(sub.keys) // before the first claim, so no wake-up is missed
	defer h.unsubscribe(s)

	for {
		for {
			c, ok, err := h.cfg.Store.ClaimTaskRun(ctx, sub.keys)
			if err != nil {
				if ctx.Err() == nil {
					// The poll wakes the socket again while runs are queued.
					log.Warn("claiming a background task run failed", "error", err)
				}
				break
			}
			if !ok {
				break
			}
			if !h.deliver(ctx, p, sub.clientID, c, msgs) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case _, open := <-msgs:
			if !open {
				return
			}
		}
	}
}

// deliver sends the claimed run and waits for the worker's answer, keeping
// the claim alive meanwhile. It reports whether the socket goes on; a run
// that was not acked is released.
func (h *Hub) deliver(ctx context.Context, p *events.PrefectSocket, clientID string, c store.TaskRunClaim, msgs <-chan []byte) bool {
	log := p.Logger().With("client_id", clientID, "task_run_id", c.Run.ID)
	// The queue's bookkeeping outlives the socket: a gone client must
	// still have its run released.
	bg := context.WithoutCancel(ctx)
	release := func() {
		if err := h.cfg.Store.ReleaseTaskRun(bg, c); err != nil {
			log.Warn("releasing a background task run failed; it is released once its claim goes stale", "error", err)
		}
	}
	data, err := json.Marshal(c.Run)
	if err != nil { // a stored run always encodes
		release()
		log.Error("encoding a background task run failed", "error", err)
		p.Close(websocket.StatusInternalError, "")
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
	err = p.Write(wctx, data)
	cancel()
	if err != nil {
		release()
		log.Debug("sending a background task run failed", "error", err)
		return false
	}
	renew := time.NewTicker(h.cfg.ClaimTTL / 3)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			release()
			return false
		case <-renew.C:
			if _, err := h.cfg.Store.RenewTaskRunClaim(ctx, c); err != nil && ctx.Err() == nil {
				log.Warn("renewing the claim of a background task run failed", "error", err)
			}
		case m, open := <-msgs:
			if !open {
				release()
				return false
			}
			var answer struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(m, &answer)
			switch answer.Type {
			case "ack":
				if err := h.cfg.Store.AckTaskRun(bg, c); err != nil {
					log.Warn("acking a background task run failed; it goes back to the queue once its claim is stale", "error", err)
				}
				h.workers.see(clientID, h.cfg.Now())
				return true
			case "quit":
				release()
				p.Close(websocket.StatusNormalClosure, "")
				return false
			default:
				release()
				p.Close(statusProtocolViolation, expectedAck)
				return false
			}
		}
	}
}
