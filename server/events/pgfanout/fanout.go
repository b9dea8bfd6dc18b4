// Package pgfanout relays events between server replicas that share one
// PostgreSQL database, through LISTEN/NOTIFY, so that a subscriber on any
// replica (a stream-out client in particular) sees the events published on
// every replica.
//
// Publish delivers to the local broker first, then queues the events for a
// sender that NOTIFYs them on the prefect_events channel through the store's
// pool. A listener on a dedicated pgx connection (LISTEN needs one session)
// receives the other replicas' notifications and hands the events to
// Broker.PublishRemote: subscriptions made with SubscribeLocal (the persister
// and the task-run recorder) do not get them, so each event is persisted and
// recorded once in the cluster, by the replica that received it.
//
// Payloads: a notification payload must stay under 8000 bytes. An event's
// JSON is cut into chunks of at most chunkSize bytes, each sent as one
// notification "v1|origin|message|index|count|chunk", all chunks of a Publish
// in one statement (one transaction, so they are delivered together, in
// order), and receivers reassemble them. This was chosen over sending only
// the id of a large event and loading it from the events table because it
// works whether or not the persister runs and has flushed yet, needs no
// polling or retry, and needs no outbox table to clean up; the price is that
// a large event takes several notifications (a 1.5 MB event, the largest the
// default limits accept, takes about 215 from PostgreSQL's 8 GB queue).
//
// Work pool changes (events.WorkPoolChanges, which tell worker channels to
// send a fresh snapshot) go the same way on their own channel,
// prefect_work_pool_changes, as "v1|origin|json", sent as they happen; the
// listener hands the others' to WorkPoolChanges.Deliver. Logs for the live
// log stream go on prefect_logs, chunked as events are (logs.go).
//
// Origin is a random id per Fanout (per process), so a replica skips its own
// notifications. Events notified while a listener is disconnected are lost to
// that replica's subscribers (stream-out clients can backfill from the store);
// the listener reconnects with a backoff.
package pgfanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/logstream"
	"prefectgo.dev/prefectgo/server/schema"
)

// Channel is the notification channel the replicas share.
const Channel = "prefect_events"

// PoolChannel carries the work pool changes.
const PoolChannel = "prefect_work_pool_changes"

// chunkSize bounds the event bytes in one notification, leaving room for the
// header under PostgreSQL's 8000-byte payload limit.
const chunkSize = 7000

const version = "v1"

// Notifier sends notifications through the store's pool (the PostgreSQL
// sqlstore.Store has this method).
type Notifier interface {
	Notify(ctx context.Context, channel string, payloads ...string) error
}

// Config configures a Fanout.
type Config struct {
	// Broker is the local broker: Publish delivers to it, and remote events
	// go to its PublishRemote.
	Broker *events.Broker
	// WorkPoolChanges, when set, has its changes relayed to the other
	// replicas, and theirs delivered to it.
	WorkPoolChanges *events.WorkPoolChanges
	// Logs, when set, has the logs published on it relayed to the other
	// replicas, and theirs delivered to it (see logs.go).
	Logs *logstream.Hub
	// Notifier sends the notifications.
	Notifier Notifier
	// Listen is the configuration of the listener's dedicated connection.
	Listen *pgx.ConnConfig
	// QueueSize bounds the events waiting to be notified; default 10,000.
	// When full, Publish waits.
	QueueSize int
	Logger    *slog.Logger
}

// Fanout is an events.Publisher across replicas, and the service that
// listens for the others' events.
type Fanout struct {
	cfg    Config
	origin string
	log    *slog.Logger
	queue  chan schema.Event
	logs   logRelay

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	done    sync.WaitGroup
	stopped chan struct{}
	// listening is closed once the first LISTEN succeeded (for tests).
	listening chan struct{}
}

// New returns a Fanout; Start runs its sender and listener.
func New(cfg Config) *Fanout {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10_000
	}
	f := &Fanout{cfg: cfg, origin: strings.ReplaceAll(uuid.NewString(), "-", ""), log: log.With("service", "event-fanout"),
		queue: make(chan schema.Event, cfg.QueueSize), logs: logRelay{queue: make(chan logNotes, logQueueBatches)},
		listening: make(chan struct{})}
	if cfg.WorkPoolChanges != nil {
		cfg.WorkPoolChanges.SetRelay(f.relayPoolChange)
	}
	if cfg.Logs != nil {
		cfg.Logs.SetRelay(f.relayLogs)
	}
	return f
}

// relayPoolChange notifies the other replicas of a work pool change while
// the fan-out runs. A failure is logged: their channels miss the change
// until the worker's next heartbeat finds the pool's update time moved.
func (f *Fanout) relayPoolChange(ctx context.Context, c events.WorkPoolChange) {
	f.mu.Lock()
	running := f.running
	f.mu.Unlock()
	if !running {
		return
	}
	body, err := json.Marshal(c)
	if err == nil {
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = f.cfg.Notifier.Notify(nctx, PoolChannel, version+"|"+f.origin+"|"+string(body))
		cancel()
	}
	if err != nil {
		f.log.Error("notifying other replicas of a work pool change failed", "work_pool_id", c.WorkPoolID, "error", err)
	}
}

// poolChange decodes another replica's work pool change; ok is false for
// this replica's own and for what is not one.
func (f *Fanout) poolChange(payload string) (c events.WorkPoolChange, ok bool, err error) {
	parts := strings.SplitN(payload, "|", 3)
	if len(parts) != 3 || parts[0] != version {
		return c, false, errors.New("not a " + version + " work pool change")
	}
	if parts[1] == f.origin {
		return c, false, nil
	}
	if err := json.Unmarshal([]byte(parts[2]), &c); err != nil {
		return c, false, err
	}
	return c, true, nil
}

// Origin is this process's id in the notifications.
func (f *Fanout) Origin() string { return f.origin }

// Listening is closed once the listener first listens.
func (f *Fanout) Listening() <-chan struct{} { return f.listening }

// Publish delivers events to the local broker, then queues them for the
// other replicas. A failure to notify is logged, not returned: the event is
// accepted and handled here, only remote subscribers miss it.
func (f *Fanout) Publish(ctx context.Context, evs ...schema.Event) error {
	if err := f.cfg.Broker.Publish(ctx, evs...); err != nil {
		return err
	}
	f.mu.Lock()
	running, stopped := f.running, f.stopped
	f.mu.Unlock()
	if !running {
		return nil
	}
	for _, e := range evs {
		select {
		case f.queue <- e:
		case <-stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Start runs the sender and the listener until Stop or the end of ctx.
func (f *Fanout) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running {
		return errors.New("event fan-out is already running")
	}
	ctx, f.cancel = context.WithCancel(ctx)
	f.running, f.stopped = true, make(chan struct{})
	f.done.Add(3)
	go func() { defer f.done.Done(); f.send(ctx, f.stopped) }()
	go func() { defer f.done.Done(); f.sendLogs(ctx, f.stopped) }()
	go func() { defer f.done.Done(); f.listen(ctx) }()
	return nil
}

// Stop notifies what is queued (briefly) and stops listening.
func (f *Fanout) Stop() {
	f.mu.Lock()
	if !f.running {
		f.mu.Unlock()
		return
	}
	f.running = false
	close(f.stopped)
	cancel := f.cancel
	f.mu.Unlock()
	cancel()
	f.done.Wait()
}

// send notifies queued events in batches, in publish order.
func (f *Fanout) send(ctx context.Context, stopped <-chan struct{}) {
	drain(ctx, stopped, f.queue, 100, func(ctx context.Context, batch []schema.Event) {
		payloads, err := f.payloads(batch)
		if err == nil {
			nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = f.cfg.Notifier.Notify(nctx, Channel, payloads...)
			cancel()
		}
		if err != nil {
			f.log.Error("notifying other replicas of events failed; their subscribers miss them", "events", len(batch), "error", err)
		}
	})
}

// drain hands what queue receives to flush, in order, up to maxBatch items
// at a time, until stopped; then it flushes what is still queued within a
// short bound.
func drain[T any](ctx context.Context, stopped <-chan struct{}, queue <-chan T, maxBatch int, flush func(context.Context, []T)) {
	batch := make([]T, 0, maxBatch)
	flushBatch := func(ctx context.Context) {
		if len(batch) > 0 {
			flush(ctx, batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case e := <-queue:
			batch = append(batch, e)
		more:
			for len(batch) < maxBatch {
				select {
				case e := <-queue:
					batch = append(batch, e)
				default:
					break more
				}
			}
			flushBatch(ctx)
		case <-stopped:
			// Notify what was queued before Stop, within a short bound.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case e := <-queue:
					batch = append(batch, e)
					if len(batch) == maxBatch {
						flushBatch(ctx)
					}
				default:
					flushBatch(ctx)
					return
				}
			}
		}
	}
}

// payloads encodes events as notification payloads.
func (f *Fanout) payloads(evs []schema.Event) ([]string, error) {
	var out []string
	for _, e := range evs {
		body, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		out = append(out, encode(f.origin, uuid.NewString(), body)...)
	}
	return out, nil
}

// encode cuts body into notifications no longer than chunkSize plus the
// header, never splitting a UTF-8 character (a payload must be valid text).
func encode(origin, msg string, body []byte) []string {
	var chunks [][]byte
	for len(body) > 0 {
		n := min(chunkSize, len(body))
		for n < len(body) && n > 0 && !utf8.RuneStart(body[n]) {
			n--
		}
		chunks = append(chunks, body[:n])
		body = body[n:]
	}
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = fmt.Sprintf("%s|%s|%s|%d|%d|%s", version, origin, msg, i, len(chunks), c)
	}
	return out
}

// part is one decoded notification.
type part struct {
	origin, msg  string
	index, count int
	data         string
}

func decode(payload string) (part, error) {
	f := strings.SplitN(payload, "|", 6)
	if len(f) != 6 || f[0] != version {
		return part{}, errors.New("not a " + version + " event notification")
	}
	i, err1 := strconv.Atoi(f[3])
	n, err2 := strconv.Atoi(f[4])
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return part{}, errors.New("bad chunk numbers")
	}
	return part{origin: f[1], msg: f[2], index: i, count: n, data: f[5]}, nil
}

// assembler joins the chunks of large events.
type assembler struct {
	pending map[string]*partial
}

type partial struct {
	parts   []string
	have    int
	started time.Time
}

// add takes one part and returns the event body when it is complete.
func (a *assembler) add(p part, now time.Time) ([]byte, bool) {
	if p.count == 1 {
		return []byte(p.data), true
	}
	if a.pending == nil {
		a.pending = map[string]*partial{}
	}
	key := p.origin + "/" + p.msg
	m := a.pending[key]
	if m == nil {
		// Forget messages left incomplete (a listener reconnect lost chunks).
		for k, old := range a.pending {
			if now.Sub(old.started) > time.Minute {
				delete(a.pending, k)
			}
		}
		m = &partial{parts: make([]string, p.count), started: now}
		a.pending[key] = m
	}
	if p.count != len(m.parts) || m.parts[p.index] != "" {
		return nil, false
	}
	m.parts[p.index] = p.data
	m.have++
	if m.have < len(m.parts) {
		return nil, false
	}
	delete(a.pending, key)
	var b bytes.Buffer
	for _, s := range m.parts {
		b.WriteString(s)
	}
	return b.Bytes(), true
}

// listen keeps a LISTEN connection open, reconnecting with a backoff, and
// relays the other replicas' events to the local broker.
func (f *Fanout) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	var once sync.Once
	for ctx.Err() == nil {
		err := f.listenOnce(ctx, func() {
			backoff = 100 * time.Millisecond
			once.Do(func() { close(f.listening) })
		})
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("event listener connection lost; reconnecting", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (f *Fanout) listenOnce(ctx context.Context, listening func()) error {
	cfg := f.cfg.Listen.Copy()
	// On a wait's timeout, only interrupt the read: no cancel request, which
	// could hit the next statement, and the connection stays usable.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	if f.cfg.WorkPoolChanges != nil {
		if _, err := conn.Exec(ctx, "LISTEN "+PoolChannel); err != nil {
			return err
		}
	}
	if f.cfg.Logs != nil {
		if _, err := conn.Exec(ctx, "LISTEN "+LogChannel); err != nil {
			return err
		}
	}
	f.log.Info("listening for other replicas' events", "channel", Channel)
	listening()
	var asm, logAsm assembler
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if wctx.Err() == nil || conn.IsClosed() {
				return err
			}
			// Quiet for a while: check the connection is alive.
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		if n.Channel == PoolChannel {
			c, ok, err := f.poolChange(n.Payload)
			if err != nil {
				f.log.Warn("ignoring a notification", "channel", n.Channel, "error", err)
			} else if ok {
				f.cfg.WorkPoolChanges.Deliver(c)
			}
			continue
		}
		p, err := decode(n.Payload)
		if err != nil {
			f.log.Warn("ignoring a notification", "channel", n.Channel, "error", err)
			continue
		}
		if p.origin == f.origin {
			continue
		}
		if n.Channel == LogChannel {
			f.receiveLogs(p, &logAsm)
			continue
		}
		body, ok := asm.add(p, time.Now())
		if !ok {
			continue
		}
		var e schema.Event
		if err := json.Unmarshal(body, &e); err != nil {
			f.log.Warn("ignoring an undecodable event from another replica", "error", err)
			continue
		}
		if err := f.cfg.Broker.PublishRemote(ctx, e); err != nil {
			return err
		}
	}
}
