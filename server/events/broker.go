package events

import (
	"context"
	"sync"

	"prefectgo.dev/prefectgo/server/schema"
)

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
}

// NewBroker returns a broker with no subscribers.
func NewBroker() *Broker {
	return &Broker{subs: map[*Subscription]struct{}{}}
}

// Subscribe starts a subscription that receives every event published from
// now on, in publish order, through a queue of size events (at least 1).
// name identifies it in logs.
func (b *Broker) Subscribe(name string, size int) *Subscription {
	s := &Subscription{
		name:   name,
		ch:     make(chan schema.Event, max(size, 1)),
		done:   make(chan struct{}),
		broker: b,
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish delivers the events, in order, to every current subscription. It
// returns ctx's error if ctx ends while a full queue blocks it; subscriptions
// may then have received some of the events.
func (b *Broker) Publish(ctx context.Context, events ...schema.Event) error {
	b.mu.RLock()
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.RUnlock()

	for _, e := range events {
		for _, s := range subs {
			if err := s.deliver(ctx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Subscription is one consumer's queue of published events.
type Subscription struct {
	name   string
	ch     chan schema.Event
	done   chan struct{}
	broker *Broker

	mu     sync.Mutex
	closed bool
	sends  sync.WaitGroup // deliveries in flight, so Close can wait them out
}

// Name is the name given to Subscribe.
func (s *Subscription) Name() string { return s.name }

// Events is the queue to receive from. It is never closed: a consumer stops
// on its own signal, calls Close, then may drain what is still buffered.
func (s *Subscription) Events() <-chan schema.Event { return s.ch }

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

func (s *Subscription) deliver(ctx context.Context, e schema.Event) error {
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
