package events

import (
	"context"
	"slices"
	"sync"

	"prefectgo.dev/prefectgo/server/schema"
)

// Subscriptions is how many subscriptions are open: the event consumers
// and every /events/out client.
func (b *Broker) Subscriptions() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}

// Publisher accepts events for every subscriber. The in-process Broker is one;
// a PostgreSQL LISTEN/NOTIFY fan-out across replicas can be another behind the
// same method.
type Publisher interface {
	Publish(ctx context.Context, events ...schema.Event) error
}

// Subscriber hands out subscriptions to the published stream.
type Subscriber interface {
	Subscribe(name string, size int) *Subscription
}

// LocalSubscriber hands out subscriptions to the events published in this
// process only, leaving out the events other replicas relay (see
// Broker.PublishRemote). The consumers that must see each event exactly once
// cluster-wide, the persister and the task-run recorder, subscribe this way
// when their Subscriber offers it.
type LocalSubscriber interface {
	SubscribeLocal(name string, size int) *Subscription
}

// RecentSubscriber hands out a subscription together with the events
// published just before it (Broker.SubscribeRecent).
type RecentSubscriber interface {
	SubscribeRecent(name string, size int) (*Subscription, []*schema.Event)
}

// recentEvents is how many of the last published events the broker keeps
// for SubscribeRecent: enough for the moments the persister holds events
// before writing them (flush_interval, 0.1 s by default) on a quiet server,
// and a few megabytes at most on a busy one.
const recentEvents = 256

// Broker fans events out to subscriptions in process.
//
// Each subscription has a bounded queue. When one is full, Publish waits for
// its consumer (or ctx) instead of dropping the event: a subscriber such as the
// task-run recorder must see every event, and a stalled publisher is visible
// (the client's checkpoint pings slow down, it resends after reconnecting)
// where a silent drop is not. Python Prefect's memory broker drops instead.
// A consumer that may fall far behind (a remote stream-out client) should
// therefore read into its own buffer or unsubscribe, not block the pipeline.
type Broker struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	// recent holds the last recentEvents published; publishers add to it
	// under mu's read lock, so a subscriber taking the write lock sees it
	// complete up to the events delivered to it.
	recent struct {
		sync.Mutex
		ring [recentEvents]*schema.Event
		next int // where the next event goes
		n    int
	}
}

// NewBroker returns a broker with no subscribers.
func NewBroker() *Broker {
	return &Broker{subs: map[*Subscription]struct{}{}}
}

// Subscribe starts a subscription that receives every event published from
// now on, in publish order, through a queue of size events (at least 1).
// name identifies it in logs. It also receives the events other replicas
// relay through PublishRemote.
func (b *Broker) Subscribe(name string, size int) *Subscription {
	return b.subscribe(name, size, false)
}

// SubscribeLocal is Subscribe without the events relayed from other
// replicas: only what Publish delivers.
func (b *Broker) SubscribeLocal(name string, size int) *Subscription {
	return b.subscribe(name, size, true)
}

// SubscribeRecent is Subscribe that also returns, oldest first, the last
// events (up to recentEvents) published before it, which the subscription
// will not receive. The event persister may not have written them yet, so a
// stream-out client backfilling from the store sends them too.
func (b *Broker) SubscribeRecent(name string, size int) (*Subscription, []*schema.Event) {
	s := b.newSubscription(name, size, false)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[s] = struct{}{}
	r := &b.recent
	r.Lock()
	defer r.Unlock()
	out := make([]*schema.Event, 0, r.n)
	for i := range r.n {
		out = append(out, r.ring[(r.next-r.n+i+recentEvents)%recentEvents])
	}
	return s, out
}

func (b *Broker) subscribe(name string, size int, localOnly bool) *Subscription {
	s := b.newSubscription(name, size, localOnly)
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

func (b *Broker) newSubscription(name string, size int, localOnly bool) *Subscription {
	return &Subscription{
		name:      name,
		ch:        make(chan *schema.Event, max(size, 1)),
		done:      make(chan struct{}),
		broker:    b,
		localOnly: localOnly,
	}
}

// Publish delivers the events, in order, to every current subscription. It
// returns ctx's error if ctx ends while a full queue blocks it; subscriptions
// may then have received some of the events.
func (b *Broker) Publish(ctx context.Context, events ...schema.Event) error {
	return b.publish(ctx, false, events)
}

// PublishRemote delivers events that another replica published (and
// persisted) to the subscriptions that want them, the ones not made with
// SubscribeLocal; it otherwise behaves as Publish.
func (b *Broker) PublishRemote(ctx context.Context, events ...schema.Event) error {
	return b.publish(ctx, true, events)
}

func (b *Broker) publish(ctx context.Context, remote bool, events []schema.Event) error {
	// One copy for every subscription: queues of pointers cost 8 bytes a
	// slot instead of an Event's 144, and the persister's alone has 50,000.
	// The copy is the broker's own: the caller may reuse its slice.
	own := slices.Clone(events)
	ptrs := make([]*schema.Event, len(own))
	for i := range own {
		ptrs[i] = &own[i]
	}
	b.mu.RLock()
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		if remote && s.localOnly {
			continue
		}
		subs = append(subs, s)
	}
	b.remember(ptrs)
	b.mu.RUnlock()

	for _, e := range ptrs {
		for _, s := range subs {
			if err := s.deliver(ctx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// remember adds events to the recent ring; the caller holds mu's read lock.
func (b *Broker) remember(events []*schema.Event) {
	r := &b.recent
	r.Lock()
	defer r.Unlock()
	for _, e := range events {
		r.ring[r.next] = e
		r.next = (r.next + 1) % recentEvents
		r.n = min(r.n+1, recentEvents)
	}
}

// Subscription is one consumer's queue of published events.
type Subscription struct {
	name   string
	ch     chan *schema.Event
	done   chan struct{}
	broker *Broker
	// localOnly leaves out the events relayed from other replicas.
	localOnly bool

	mu     sync.Mutex
	closed bool
	sends  sync.WaitGroup // deliveries in flight, so Close can wait them out
}

// Name is the name given to Subscribe.
func (s *Subscription) Name() string { return s.name }

// Events is the queue to receive from. It is never closed: a consumer stops
// on its own signal, calls Close, then may drain what is still buffered.
// Every subscription receives the same *Event: read it, never change it.
func (s *Subscription) Events() <-chan *schema.Event { return s.ch }

// Close unsubscribes. Publishers blocked on this subscription move on, and
// once Close returns nothing more is added, so draining Events afterwards
// sees everything that was delivered. Close is idempotent.
func (s *Subscription) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	s.broker.mu.Lock()
	delete(s.broker.subs, s)
	s.broker.mu.Unlock()
	s.sends.Wait()
}

func (s *Subscription) deliver(ctx context.Context, e *schema.Event) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.sends.Add(1)
	s.mu.Unlock()
	defer s.sends.Done()

	select {
	case s.ch <- e:
		return nil
	default:
	}
	// Full: wait, unless the subscription closes or the publisher gives up.
	select {
	case s.ch <- e:
		return nil
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
