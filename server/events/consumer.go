package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// drainTimeout bounds the final flush on Stop, so a dead database cannot hold
// shutdown forever.
const drainTimeout = 30 * time.Second

// maxBackoff caps the wait between attempts at a failed write.
const maxBackoff = 5 * time.Second

// batchLoop is the engine of the persister and the recorder: it subscribes to
// the broker and hands batches to write. It waits for one event, takes
// whatever else is already queued up to batchSize units (events, or what unit
// names), and writes: at once, so a lone event is written immediately and a
// burst batches while the previous write runs; or, when the loop lingers,
// once the batch holds least units or has waited linger, so a steady stream
// is written in fewer, larger writes. With writers above one, that many
// batches may be written at once, in no particular order. A write that
// fails because the store cannot take writes now (store.ErrUnavailable: a
// full disk, a database down; or store.ErrTimeout) is retried with backoff
// until it succeeds, and meanwhile Err reports the cause so event intake can
// refuse new events instead of acknowledging what may not be stored. Any
// other failure is retried maxAttempts times, then the batch is dropped; drops
// are counted and logged. Stop (or the end of Start's ctx) drains and writes
// what is queued, within drainTimeout.
type batchLoop struct {
	name        string
	subscriber  Subscriber
	queueSize   int
	batchSize   int
	maxAttempts int
	backoff     time.Duration
	logger      *slog.Logger
	keep        func(schema.Event) bool   // nil keeps every event
	unit        func(schema.Event) string // what batchSize counts; nil counts events
	// A batch of fewer than least units waits up to linger for more; a
	// zero linger writes what is queued at once.
	least  int
	linger time.Duration
	// writers is how many batches may be in writing at once; below two,
	// each is written before the next is taken, in order.
	writers int
	write   func(ctx context.Context, batch []schema.Event) error

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}

	// failing is the error of the last write when the store could not take
	// it, nil once a write succeeds.
	failing atomic.Pointer[error]
	// dropped counts the events given up on since the start.
	dropped atomic.Int64
	// sub is the running subscription, for the backlog.
	sub atomic.Pointer[Subscription]
}

// Backlog is how many events wait in the loop's queue.
func (l *batchLoop) Backlog() int {
	if sub := l.sub.Load(); sub != nil {
		return len(sub.Events())
	}
	return 0
}

// Dropped is how many events the loop gave up on since it started.
func (l *batchLoop) Dropped() int64 { return l.dropped.Load() }

// Err is why the store cannot take this loop's writes now, or nil.
func (l *batchLoop) Err() error {
	if p := l.failing.Load(); p != nil {
		return *p
	}
	return nil
}

// storeFailing reports whether err is the store being unable to take writes
// for now, rather than something wrong with the batch.
func storeFailing(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrTimeout)
}

// Start subscribes, so every event published after Start returns is seen,
// and runs the loop until Stop or the end of ctx. Writes do not inherit ctx's
// cancellation: a batch taken off the queue is written, not abandoned.
func (l *batchLoop) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return errors.New(l.name + " is already running")
	}
	// Events relayed from other replicas were handled where they were
	// published: take only this process's own.
	var sub *Subscription
	if ls, ok := l.subscriber.(LocalSubscriber); ok {
		sub = ls.SubscribeLocal(l.name, l.queueSize)
	} else {
		sub = l.subscriber.Subscribe(l.name, l.queueSize)
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	l.sub.Store(sub)
	go l.run(ctx, sub, l.stop, l.done)
	return nil
}

// Stop ends the loop after writing what is queued, and waits for it.
func (l *batchLoop) Stop() {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop, l.done = nil, nil
	l.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
}

func (l *batchLoop) run(ctx context.Context, sub *Subscription, stop, done chan struct{}) {
	defer close(done)
	wctx := context.WithoutCancel(ctx)
	w := newWriting(l.writers)
	defer w.wait()
	// next is the start of the next batch: the event waited for, or the one
	// that did not fit the last batch.
	var next []schema.Event
	for {
		if next == nil {
			select {
			case p := <-sub.Events():
				if ev := *p; l.kept(ev) {
					next = []schema.Event{ev} // a fresh slice each time: write may keep it
				}
				continue
			case <-stop:
			case <-ctx.Done():
			}
		}
		if stopping(ctx, stop) {
			w.wait()
			l.drain(wctx, sub, next)
			return
		}
		var batch []schema.Event
		batch, next = l.fill(sub, next, l.until(ctx, stop))
		w.do(func() { l.flush(wctx, batch) })
	}
}

// writing runs a loop's writes, up to n at once: the loop fills the next
// batch while the last is written, and waits only once n are. One write at
// a time is not enough for the persister on PostgreSQL: under 64 clients
// the events it had not yet written grew by 2,000 a second, each held in
// memory; with two at once they stay under a thousand.
type writing struct {
	slots chan struct{} // nil: each write runs in the caller
	wg    sync.WaitGroup
}

func newWriting(n int) *writing {
	if n < 2 {
		return &writing{}
	}
	return &writing{slots: make(chan struct{}, n)}
}

// do runs write, in the background when there are slots, once one is free.
func (w *writing) do(write func()) {
	if w.slots == nil {
		write()
		return
	}
	w.slots <- struct{}{}
	w.wg.Go(func() {
		defer func() { <-w.slots }()
		write()
	})
}

// wait returns once every write begun has ended.
func (w *writing) wait() { w.wg.Wait() }

// deadline ends fill's wait for a batch to fill: the linger has passed, or
// the loop is stopping.
type deadline struct {
	timer      <-chan time.Time
	stop, done <-chan struct{}
}

// until is the deadline of a batch begun now, or nil when the loop does not
// linger.
func (l *batchLoop) until(ctx context.Context, stop <-chan struct{}) *deadline {
	if l.linger <= 0 || l.least <= 1 {
		return nil
	}
	return &deadline{timer: time.After(l.linger), stop: stop, done: ctx.Done()}
}

// stopping says, without waiting, whether the loop is to stop.
func stopping(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// fill adds queued events to batch while they fit in batchSize units, and
// returns the kept event that did not fit as the start of the next batch.
// Once the queue is empty it returns, unless the batch holds fewer than
// least units and wait has not passed: then it waits for more. It looks at
// no more than a queue's worth, so a stream of events that are not kept
// cannot hold a batch back.
func (l *batchLoop) fill(sub *Subscription, batch []schema.Event, wait *deadline) (full, next []schema.Event) {
	var units map[string]bool
	if l.unit != nil {
		units = make(map[string]bool, l.batchSize)
		for _, ev := range batch {
			units[l.unit(ev)] = true
		}
	}
	fits := func(ev schema.Event) bool {
		if units == nil {
			return len(batch) < l.batchSize
		}
		u := l.unit(ev)
		if !units[u] && len(units) >= l.batchSize {
			return false
		}
		units[u] = true
		return true
	}
	held := func() int {
		if units == nil {
			return len(batch)
		}
		return len(units)
	}
	for seen := 0; seen < l.queueSize; seen++ {
		if units == nil && len(batch) >= l.batchSize {
			return batch, nil
		}
		var p *schema.Event
		select {
		case p = <-sub.Events():
		default:
			if wait == nil || held() >= l.least {
				return batch, nil
			}
			select {
			case p = <-sub.Events():
			case <-wait.timer:
				return batch, nil
			case <-wait.stop:
				return batch, nil
			case <-wait.done:
				return batch, nil
			}
		}
		ev := *p
		if !l.kept(ev) {
			continue
		}
		if !fits(ev) {
			return batch, []schema.Event{ev}
		}
		batch = append(batch, ev)
	}
	return batch, nil
}

func (l *batchLoop) kept(ev schema.Event) bool { return l.keep == nil || l.keep(ev) }

// drain writes next and what is queued, in batches.
func (l *batchLoop) drain(ctx context.Context, sub *Subscription, next []schema.Event) {
	sub.Close() // from here nothing more is queued
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	for {
		var batch []schema.Event
		batch, next = l.fill(sub, next, nil)
		if len(batch) == 0 {
			return
		}
		l.flush(ctx, batch)
	}
}

// flush writes batch, retrying with backoff: without end while the store is
// failing, maxAttempts times otherwise.
func (l *batchLoop) flush(ctx context.Context, batch []schema.Event) {
	delay := l.backoff
	for attempt := 1; ; attempt++ {
		err := l.write(ctx, batch)
		if err == nil {
			if l.failing.Swap(nil) != nil {
				l.logger.Info("writes succeed again", "service", l.name)
			}
			return
		}
		failing := storeFailing(err)
		if failing {
			l.failing.Store(&err)
		}
		if ctx.Err() != nil || (!failing && attempt >= l.maxAttempts) {
			l.logger.Error("dropping events after failed writes", "service", l.name,
				"batch_size", len(batch), "attempts", attempt, "dropped_total", l.dropped.Add(int64(len(batch))),
				"error", err)
			return
		}
		l.logger.Warn("write failed; retrying", "service", l.name,
			"batch_size", len(batch), "attempt", attempt, "retry_in", delay, "error", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(delay*2, maxBackoff)
	}
}
