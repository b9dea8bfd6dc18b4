package services

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// TriggersStore is the part of the store trigger evaluation needs.
type TriggersStore interface {
	FilterAutomations(ctx context.Context, q schema.AutomationQuery) ([]schema.Automation, error)
	store.AutomationState
}

// EventSource is a subscription to the event stream (events.Subscription).
type EventSource interface {
	Events() <-chan *schema.Event
	Close()
}

// EventSink takes the events the service emits (events.Ingestor.Emit).
type EventSink interface {
	Emit(ctx context.Context, events ...schema.Event) error
}

// Firings are acted on by actionWorkers goroutines from a queue of
// maxPendingFirings, off the evaluating goroutine: a slow webhook never
// holds up the events behind it, and the evaluator never waits on a
// publish that waits on it (it reads its own state-change events).
const (
	actionWorkers     = 4
	maxPendingFirings = 10_000
)

// firingWork is one firing to announce and act on.
type firingWork struct {
	events  []schema.Event
	actions []automations.TriggeredAction
	id      uuid.UUID
}

// Triggers evaluates the triggers of the enabled automations, as Prefect's
// triggers service does: reactively for every event of the stream, and
// proactively every Granularity for the triggers that fire on an absence.
// The buckets are kept in the store, so a restart or a new leader carries
// on. A firing is announced with the automation's state-change events and
// its actions handed to Actor. It runs on the leader only: on PostgreSQL
// the leader's stream holds every replica's events.
type Triggers struct {
	Store  TriggersStore
	Source func() EventSource
	Sink   EventSink
	Actor  automations.Actor
	// Granularity is how often proactive triggers are evaluated and the
	// automations reloaded; ExpiredBucketBuffer how long an ended bucket is
	// kept.
	Granularity         time.Duration
	ExpiredBucketBuffer time.Duration
	Now                 func() time.Time
	Log                 *slog.Logger

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	workers sync.WaitGroup

	loaded  []*automations.Automation
	nextRun map[uuid.UUID]time.Time // proactive triggers, by id
	pending chan firingWork
}

// Start subscribes and evaluates in the background until Stop.
func (s *Triggers) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return errors.New("triggers is already running")
	}
	if s.Granularity <= 0 {
		return errors.New("triggers: the proactive granularity must be positive")
	}
	src := s.Source()
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	s.nextRun = map[uuid.UUID]time.Time{}
	s.pending = make(chan firingWork, maxPendingFirings)
	for range actionWorkers {
		s.workers.Add(1)
		go s.work(ctx, s.pending)
	}
	go s.run(ctx, src, s.done)
	return nil
}

// Stop ends the evaluation, then finishes the firings already queued.
func (s *Triggers) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	close(s.pending)
	s.workers.Wait()
}

// work announces and acts on queued firings until the queue is closed. A
// firing taken is finished even when the service is stopping.
func (s *Triggers) work(ctx context.Context, pending <-chan firingWork) {
	defer s.workers.Done()
	ctx = context.WithoutCancel(ctx)
	for w := range pending {
		if err := s.Sink.Emit(ctx, w.events...); err != nil {
			s.log().Error("emitting an automation's state change", "automation_id", w.id, "error", err)
		}
		for _, ta := range w.actions {
			s.Actor.Act(ctx, ta)
		}
	}
}

func (s *Triggers) run(ctx context.Context, src EventSource, done chan struct{}) {
	defer close(done)
	defer src.Close()
	s.reload(ctx)
	tick := time.NewTicker(s.Granularity)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-src.Events():
			if !ok {
				return
			}
			if strings.HasPrefix(e.Event, "prefect.automation.") && isAutomationChange(e.Event) {
				s.reload(ctx)
			}
			s.onEvent(ctx, *e)
		case <-tick.C:
			s.reload(ctx)
			s.onTick(ctx)
		}
	}
}

func isAutomationChange(name string) bool {
	switch name {
	case "prefect.automation.created", "prefect.automation.updated", "prefect.automation.deleted":
		return true
	}
	return false
}

func (s *Triggers) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Triggers) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// reload reads the enabled automations; on failure the ones loaded stay.
func (s *Triggers) reload(ctx context.Context) {
	var loaded []*automations.Automation
	const page = 200
	for offset := 0; ; offset += page {
		limit := page
		as, err := s.Store.FilterAutomations(ctx, schema.AutomationQuery{Page: schema.Page{Limit: &limit, Offset: offset}})
		if err != nil {
			if ctx.Err() == nil {
				s.log().Error("reading the automations to evaluate", "error", err)
			}
			return
		}
		for _, a := range as {
			if a.Enabled {
				loaded = append(loaded, automations.Load(a))
			}
		}
		if len(as) < page {
			break
		}
	}
	s.loaded = loaded
}

// onEvent evaluates every trigger covering the event.
func (s *Triggers) onEvent(ctx context.Context, e schema.Event) {
	for _, a := range s.loaded {
		for _, t := range a.Events {
			if !t.Covers(e) {
				continue
			}
			var fired *automations.Firing
			err := s.Store.UpdateBucket(ctx, a.ID, t.ID, t.BucketingKey(e), func(cur *automations.Bucket) (*automations.Bucket, error) {
				next, f := t.OnEvent(cur, e, s.now())
				fired = f
				return next, nil
			})
			if err != nil {
				s.evaluationFailed(ctx, a, err)
				continue
			}
			if fired != nil {
				s.fire(ctx, a, t.Parent, t.ID, *fired)
			}
		}
	}
}

// onTick evaluates the proactive triggers that are due and sweeps the
// buckets that ended long enough ago.
func (s *Triggers) onTick(ctx context.Context) {
	now := s.now()
	for _, a := range s.loaded {
		for _, t := range a.Events {
			if !t.Proactive() {
				continue
			}
			if next, ok := s.nextRun[t.ID]; ok && next.After(now) {
				continue
			}
			var fired []automations.Firing
			var again time.Time
			err := s.Store.UpdateTriggerBuckets(ctx, a.ID, t.ID, func(bs []automations.Bucket) ([]automations.BucketChange, error) {
				var changes []automations.BucketChange
				changes, fired, again = t.OnTick(bs, now, now)
				return changes, nil
			})
			if err != nil {
				s.evaluationFailed(ctx, a, err)
				continue
			}
			s.nextRun[t.ID] = again
			for _, f := range fired {
				s.fire(ctx, a, t.Parent, t.ID, f)
			}
		}
	}
	if _, err := s.Store.SweepBuckets(ctx, now.Add(-s.ExpiredBucketBuffer)); err != nil && ctx.Err() == nil {
		s.log().Error("sweeping ended automation buckets", "error", err)
	}
}

func (s *Triggers) evaluationFailed(ctx context.Context, a *automations.Automation, err error) {
	if ctx.Err() != nil || errors.Is(err, schema.ErrNotFound) {
		return // stopping, or the automation was deleted since it was loaded
	}
	s.log().Error("evaluating an automation", "automation_id", a.ID, "error", err)
}

// fire passes a trigger's firing up: to its composite trigger, which may
// fire in turn, or, for the automation's own trigger, to the actions.
func (s *Triggers) fire(ctx context.Context, a *automations.Automation, parent *automations.CompositeTrigger, triggerID uuid.UUID, f automations.Firing) {
	if parent == nil {
		s.act(a, f)
		return
	}
	up, ok, err := automations.FireComposite(parent, f, func(cf store.ChildFiring, notBefore *time.Time, ready func([]store.ChildFiring) bool) ([]store.ChildFiring, error) {
		return s.Store.RecordChildFiring(ctx, cf, notBefore, ready)
	}, s.now())
	if err != nil {
		s.evaluationFailed(ctx, a, err)
		return
	}
	if ok {
		s.fire(ctx, a, parent.Parent, parent.ID, up)
	}
}

// act queues the firing's announcement and actions.
func (s *Triggers) act(a *automations.Automation, f automations.Firing) {
	evs, actions := a.Act(f)
	s.log().Info("automation triggered", "automation_id", a.ID, "automation", a.Name, "actions", len(actions))
	select {
	case s.pending <- firingWork{events: evs, actions: actions, id: a.ID}:
	default:
		s.log().Error("automation firing dropped: too many firings waiting for their actions",
			"automation_id", a.ID, "waiting", maxPendingFirings)
	}
}
