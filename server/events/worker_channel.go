package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// WorkerChannelConfig configures the worker channel WebSocket,
// /api/work_pools/{pool}/workers/connect.
type WorkerChannelConfig struct {
	// Store holds the pools, queues and workers; required.
	Store store.WorkPools
	// Changes tells the channels of their pool's changes; required.
	Changes *WorkPoolChanges
	// AuthString as InConfig.AuthString.
	AuthString string
	// HandshakeTimeout bounds the wait for the auth message and for the
	// hello; default 30s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one frame write; default 10s.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	// Socket bounds each socket's time and memory.
	Socket SocketConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// WorkerChannelHandler serves Prefect 3.9's worker channel: a worker keeps
// one WebSocket to its pool, over which it heartbeats and receives the
// pool's configuration (snapshots), instead of POSTing heartbeats and
// reading the pool over REST. Scheduled runs are still polled over REST
// (the protocol's scheduled_flow_run_acquisition is "rest").
//
// Protocol, as Prefect's worker_channel_connect: the "prefect" subprotocol
// is required (403 without it), then the auth exchange of the other sockets
// (any failure closes 1008 "authentication_failed"), then the worker's
// worker.hello.v1, answered by worker.ready.v1: the capabilities accepted
// (heartbeats and snapshots; cleanup delivery is declined), the queues it
// named (or all the pool's), and the pool as snapshot 1. The hello records
// a heartbeat and may create the pool (create_pool_if_not_found) or give a
// pool without a base job template the worker's default one. Then, until
// either side closes: each worker.heartbeat.v1 is recorded as POST
// .../workers/heartbeat records one; each change of the pool announced on
// Changes (and any change a heartbeat finds the pool's update time moved
// by) sends a work_pool.snapshot.v1 with the next sequence number; the
// pool's deletion closes the channel "authorization_failed". Errors close
// with Prefect's WorkerChannelCloseReason and its code: protocol_error
// (1002) for a malformed or unexpected frame, authorization_failed (1008)
// for a missing pool or queue, unsupported_version (1008),
// heartbeat_persistence_failed and transient_server_error (1011, after
// which the worker reconnects).
func WorkerChannelHandler(cfg WorkerChannelConfig) http.Handler {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, 30*time.Second)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, 10*time.Second)
	cfg.Socket = cfg.Socket.WithDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &workerChannel{cfg}
}

type workerChannel struct{ cfg WorkerChannelConfig }

func (h *workerChannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pool := r.PathValue("pool")
	logger := h.cfg.Logger.With("remote_addr", r.RemoteAddr, "websocket", "worker-channel", "work_pool", pool)
	if !requestsSubprotocol(r, "prefect") {
		logger.Warn("worker channel rejected: the 'prefect' subprotocol is required")
		http.Error(w, "'prefect' subprotocol required", http.StatusForbidden)
		return
	}
	s, err := accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"prefect"}}, h.cfg.Socket, logger)
	if err != nil {
		return
	}
	defer func() { _ = s.c.CloseNow() }()
	s.c.SetReadLimit(h.cfg.Socket.MaxMessageBytes)
	ctx := r.Context()
	defer s.keepAlive(ctx)()

	if !handshake(ctx, s, h.cfg.AuthString, h.cfg.HandshakeTimeout, closeAuthenticationFailed.reason) {
		return
	}
	// Watch before the ready frame's snapshot is read, so no change falls
	// in between.
	watch := h.cfg.Changes.watch()
	defer watch.close()
	c, ready, err := h.setup(ctx, s, pool)
	if err != nil {
		var ce *channelError
		if errors.As(err, &ce) {
			logger.Debug("worker channel setup failed", "reason", ce.close.reason, "detail", ce.detail)
			s.closeWith(ce.close.code, ce.close.reason)
		}
		return
	}
	watch.narrow(c.poolID)
	c.run(ctx, ready, watch)
}

// errGone ends a setup whose client went away; nothing is left to close.
var errGone = errors.New("worker channel client gone")

// setup reads the hello and answers what the ready frame says: the pool
// (created or given a template if need be), its queues, a heartbeat.
func (h *workerChannel) setup(ctx context.Context, s *socket, poolName string) (*channelConn, outgoing, error) {
	hctx, cancel := context.WithTimeout(ctx, h.cfg.HandshakeTimeout)
	m, err := s.read(hctx, h.cfg.Socket.MaxMessageBytes)
	cancel()
	if err != nil {
		s.logger.Debug("worker channel ended before its hello", "error", err)
		s.ended(err)
		return nil, outgoing{}, errGone
	}
	f, err := parseFrame(m.data)
	m.release()
	switch {
	case errors.Is(err, errInvalidJSON):
		return nil, outgoing{}, closing(closeProtocolError, "invalid JSON during setup")
	case err != nil:
		return nil, outgoing{}, closing(closeProtocolError, "malformed hello frame: "+err.Error())
	case f.Type != frameHello:
		return nil, outgoing{}, closing(closeProtocolError, "expected "+frameHello+" during setup, got "+f.Type)
	}
	hello, err := parseHello(f.Payload)
	if err != nil {
		return nil, outgoing{}, closing(closeProtocolError, "malformed hello frame: "+err.Error())
	}
	if !slices.Contains(hello.SupportedChannelVersions, channelVersion) {
		return nil, outgoing{}, closing(closeUnsupportedVersion, "no mutually supported worker channel version")
	}

	st := h.cfg.Store
	pool, err := h.resolvePool(ctx, poolName, hello)
	if err != nil {
		return nil, outgoing{}, err
	}
	queues, err := h.resolveQueues(ctx, poolName, hello.WorkQueueNames)
	if err != nil {
		return nil, outgoing{}, err
	}
	if isEmptyObject(pool.BaseJobTemplate) && !isEmptyObject(hello.DefaultBaseJobTemplate) {
		u := schema.WorkPoolUpdate{BaseJobTemplate: hello.DefaultBaseJobTemplate}
		if err := u.Validate(); err != nil {
			return nil, outgoing{}, closing(closeTransient, "the worker's default base job template: "+err.Error())
		}
		if err := st.UpdateWorkPool(ctx, poolName, u); err != nil {
			return nil, outgoing{}, closing(closeTransient, "setting the pool's base job template: "+err.Error())
		}
		h.cfg.Changes.PoolUpdated(ctx, pool.ID)
	}
	interval := *hello.HeartbeatIntervalSeconds
	if err := st.WorkerHeartbeat(ctx, poolName, *hello.WorkerName, &interval); err != nil {
		return nil, outgoing{}, closing(closeHeartbeatFailed, "initial heartbeat: "+err.Error())
	}
	if pool, err = st.ReadWorkPool(ctx, pool.ID); err != nil {
		return nil, outgoing{}, closing(closeTransient, "reading the pool: "+err.Error())
	}

	var rejected []string
	for _, c := range hello.RequestedCapabilities {
		if !slices.Contains(channelCapabilities, c) && !slices.Contains(rejected, c) {
			rejected = append(rejected, c)
		}
	}
	if rejected == nil {
		rejected = []string{}
	} else {
		s.logger.Debug("worker channel capabilities rejected", "worker_name", *hello.WorkerName, "rejected", rejected)
	}
	ready := newFrame(frameReady, h.cfg.Now(), readyPayload{
		ConsumerID:                        *hello.ConsumerID,
		SelectedChannelVersion:            channelVersion,
		EffectiveHeartbeatIntervalSeconds: interval,
		AcceptedCapabilities:              channelCapabilities,
		RejectedCapabilities:              rejected,
		ResolvedWorkQueues:                queues,
		InitialSnapshot:                   snapshotPayload{SnapshotSequence: 1, Reason: snapshotInitial, WorkPool: pool},
	})
	c := &channelConn{h: h, s: s, logger: s.logger.With("worker_name", *hello.WorkerName),
		poolName: poolName, poolID: pool.ID, consumerID: *hello.ConsumerID, workerName: *hello.WorkerName,
		poolUpdated: pool.Updated, nextSequence: 2}
	return c, ready, nil
}

// resolvePool reads the worker's pool, creating it when the worker asks to
// and the name is not reserved.
func (h *workerChannel) resolvePool(ctx context.Context, name string, hello helloPayload) (schema.WorkPool, error) {
	st := h.cfg.Store
	pool, err := st.ReadWorkPoolByName(ctx, name)
	switch {
	case err == nil:
		return pool, nil
	case !errors.Is(err, schema.ErrNotFound):
		return pool, closing(closeTransient, "reading the pool: "+err.Error())
	case !hello.CreatePoolIfNotFound:
		return pool, closing(closeAuthorizationFailed, "work_pool_not_found")
	case strings.HasPrefix(strings.ToLower(name), "prefect"):
		return pool, closing(closeAuthorizationFailed, "work_pool_creation_unauthorized")
	}
	create := schema.WorkPoolCreate{Name: name, Type: *hello.WorkerType, BaseJobTemplate: hello.DefaultBaseJobTemplate}
	if err := create.Validate(); err != nil {
		// Prefect fails here with its models' validation, a server error.
		return pool, closing(closeTransient, "creating the pool: "+err.Error())
	}
	pool, err = st.CreateWorkPool(ctx, create)
	var conflict *schema.ConflictError
	if errors.As(err, &conflict) { // another worker created it first
		pool, err = st.ReadWorkPoolByName(ctx, name)
	}
	if err != nil {
		return pool, closing(closeTransient, "creating the pool: "+err.Error())
	}
	return pool, nil
}

// resolveQueues returns the queues the worker named (each once, in its
// order), or all the pool's when it named none.
func (h *workerChannel) resolveQueues(ctx context.Context, pool string, names []string) ([]resolvedQueue, error) {
	out := []resolvedQueue{}
	if len(names) == 0 {
		qs, err := h.cfg.Store.FilterWorkQueues(ctx, pool, schema.WorkQueueQuery{})
		if err != nil {
			return nil, closing(closeTransient, "reading the pool's queues: "+err.Error())
		}
		for _, q := range qs {
			out = append(out, resolvedQueue{q.ID, q.Name})
		}
		return out, nil
	}
	for _, name := range names {
		if slices.ContainsFunc(out, func(q resolvedQueue) bool { return q.Name == name }) {
			continue
		}
		q, err := h.cfg.Store.ReadWorkQueueByName(ctx, pool, name)
		if errors.Is(err, schema.ErrNotFound) {
			return nil, closing(closeAuthorizationFailed, "work_queue_not_found")
		}
		if err != nil {
			return nil, closing(closeTransient, "reading a queue: "+err.Error())
		}
		out = append(out, resolvedQueue{q.ID, q.Name})
	}
	return out, nil
}

func isEmptyObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) != nil || len(m) == 0
}

// channelConn is one worker's channel once ready.
type channelConn struct {
	h          *workerChannel
	s          *socket
	logger     *slog.Logger
	poolName   string
	poolID     uuid.UUID
	consumerID uuid.UUID
	workerName string

	mu           sync.Mutex
	poolUpdated  time.Time // the update time of the pool last sent
	nextSequence int
}

// run sends the ready frame, then reads the worker's frames on this
// goroutine while another sends snapshots, until one of them ends the
// channel. Either closes the socket with its reason itself (a close frame
// is written even while the other side is reading); the reader's context
// is never cancelled by the sender, which would drop the connection
// without a close frame.
func (c *channelConn) run(ctx context.Context, ready outgoing, watch *poolWatch) {
	if err := c.write(ctx, ready); err != nil {
		c.logger.Debug("worker channel ended sending ready", "error", err)
		return
	}
	c.logger.Debug("worker channel opened")
	defer c.logger.Debug("worker channel closed")
	sctx, cancel := context.WithCancel(ctx)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		if err := c.sendSnapshots(sctx, watch); err != nil {
			c.end(err)
		}
	}()
	if err := c.receive(ctx, watch); err != nil {
		c.end(err)
	}
	cancel()
	<-sent
}

// end closes the channel with the reason err carries; other errors are the
// socket's own end (the worker left, a write failed).
func (c *channelConn) end(err error) {
	var ce *channelError
	if errors.As(err, &ce) {
		c.logger.Debug("worker channel closing", "reason", ce.close.reason, "detail", ce.detail)
		c.s.closeWith(ce.close.code, ce.close.reason)
		return
	}
	c.logger.Debug("worker channel ended", "error", err)
}

func (c *channelConn) write(ctx context.Context, f outgoing) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, c.h.cfg.WriteTimeout)
	defer cancel()
	return c.s.c.Write(wctx, websocket.MessageText, b)
}

// sendSnapshots sends the pool, read fresh, for each change announced.
func (c *channelConn) sendSnapshots(ctx context.Context, watch *poolWatch) error {
	for {
		var change WorkPoolChange
		select {
		case <-ctx.Done():
			return nil
		case change = <-watch.changes():
		}
		if change.Deleted {
			return closing(closeAuthorizationFailed, "the work pool was deleted")
		}
		pool, err := c.h.cfg.Store.ReadWorkPool(ctx, c.poolID)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, schema.ErrNotFound):
			return closing(closeAuthorizationFailed, "the work pool is gone")
		case err != nil:
			return closing(closeTransient, "reading the pool for a snapshot: "+err.Error())
		}
		c.mu.Lock()
		c.poolUpdated = pool.Updated
		seq := c.nextSequence
		c.nextSequence++
		c.mu.Unlock()
		if err := c.write(ctx, newFrame(frameSnapshot, c.h.cfg.Now(), snapshotPayload{seq, change.Reason, pool})); err != nil {
			return err
		}
		c.logger.Debug("worker channel snapshot sent", "sequence", seq, "reason", change.Reason)
	}
}

// receive handles the worker's frames until it leaves or sends one it may
// not.
func (c *channelConn) receive(ctx context.Context, watch *poolWatch) error {
	for {
		m, err := c.s.read(ctx, c.h.cfg.Socket.MaxMessageBytes)
		if err != nil {
			c.s.ended(err)
			return nil
		}
		f, err := parseFrame(m.data)
		m.release()
		if err != nil {
			return closing(closeProtocolError, "malformed frame: "+err.Error())
		}
		switch f.Type {
		case frameHeartbeat:
			err = c.heartbeat(ctx, f, watch)
		case frameCleanupAck, frameCleanupRelease, frameCleanupRenew:
			err = c.refuseCleanup(ctx, f)
		default:
			err = closing(closeProtocolError, "unexpected frame "+f.Type)
		}
		if err != nil {
			return err
		}
	}
}

// heartbeat records the worker's heartbeat as the REST route does, and
// queues a snapshot when the pool changed since the last one sent (a change
// this channel was not told of: another replica's, or a writer that
// announces none).
func (c *channelConn) heartbeat(ctx context.Context, f incoming, watch *poolWatch) error {
	hb, err := parseHeartbeat(f.Payload)
	if err != nil {
		return closing(closeProtocolError, "malformed heartbeat: "+err.Error())
	}
	if *hb.ConsumerID != c.consumerID || *hb.WorkerName != c.workerName {
		return closing(closeProtocolError, "heartbeat from another consumer or worker")
	}
	pool, err := c.h.cfg.Store.ReadWorkPoolByName(ctx, c.poolName)
	if err == nil {
		err = c.h.cfg.Store.WorkerHeartbeat(ctx, c.poolName, c.workerName, hb.HeartbeatIntervalSeconds)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.logger.Warn("worker channel heartbeat not recorded", "error", err)
		return closing(closeHeartbeatFailed, err.Error())
	}
	c.mu.Lock()
	moved := !pool.Updated.Equal(c.poolUpdated)
	c.mu.Unlock()
	if moved {
		watch.offer(WorkPoolChange{WorkPoolID: c.poolID, Reason: snapshotHeartbeatReconciliation})
	}
	return nil
}

// refuseCleanup answers a cleanup operation: this server accepts no cleanup
// delivery, so there is nothing to acknowledge, release or renew.
func (c *channelConn) refuseCleanup(ctx context.Context, f incoming) error {
	op, p, err := parseCleanupOperation(f)
	if err != nil {
		return closing(closeProtocolError, "malformed cleanup operation: "+err.Error())
	}
	reason := cleanupNotAccepted
	return c.write(ctx, newFrame(frameCleanupResult, c.h.cfg.Now(), cleanupResultPayload{
		RequestFrameID: f.ID, MessageID: *p.MessageID, Operation: op, Status: cleanupUnauthorized, Reason: &reason,
	}))
}
