package services_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// actionLog records the triggered actions handed to it.
type actionLog struct {
	mu   sync.Mutex
	done []automations.TriggeredAction
}

func (l *actionLog) Act(_ context.Context, a automations.TriggeredAction) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = append(l.done, a)
}

func (l *actionLog) taken() []automations.TriggeredAction {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]automations.TriggeredAction(nil), l.done...)
}

// brokerSink emits to the broker, as the server's ingestor does.
type brokerSink struct{ b *events.Broker }

func (s brokerSink) Emit(ctx context.Context, evs ...schema.Event) error {
	return s.b.Publish(ctx, evs...)
}

// startTriggers runs the service over st and a broker until the test ends.
func startTriggers(t *testing.T, st store.Store, now func() time.Time) (*events.Broker, *actionLog, *recorder) {
	t.Helper()
	broker := events.NewBroker()
	seen := &recorder{}
	watch := broker.Subscribe("test", 1000)
	go func() {
		for e := range watch.Events() {
			_ = seen.Emit(context.Background(), *e)
		}
	}()
	acts := &actionLog{}
	svc := &services.Triggers{Store: st, Source: func() services.EventSource { return broker.Subscribe("triggers", 1000) },
		Sink: brokerSink{broker}, Actor: acts, Granularity: 50 * time.Millisecond, ExpiredBucketBuffer: time.Minute, Now: now}
	require.NoError(t, svc.Start(context.Background()))
	t.Cleanup(func() { svc.Stop(); watch.Close() })
	return broker, acts, seen
}

func flowRunEvent(name, runID string, at time.Time) schema.Event {
	return schema.Event{ID: uuid.New(), Occurred: at, Event: name, Resource: schema.Resource{"prefect.resource.id": "prefect.flow-run." + runID},
		Related: []schema.Resource{}, Payload: json.RawMessage(`{}`), Received: at}
}

func TestTriggersActOnEvents(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		// Fires on the second failure of a run within a minute; two actions.
		a := storetest.Automation(t, st, map[string]any{"name": "two failures", "trigger": map[string]any{
			"posture": "Reactive", "expect": []string{"prefect.flow-run.Failed"}, "match": map[string]any{"prefect.resource.id": "prefect.flow-run.*"},
			"for_each": []string{"prefect.resource.id"}, "threshold": 2, "within": 60},
			"actions":            []any{map[string]any{"type": "do-nothing"}},
			"actions_on_trigger": []any{map[string]any{"type": "do-nothing"}}})
		broker, acts, seen := startTriggers(t, st, nil)
		now := time.Now().UTC()
		require.NoError(t, broker.Publish(ctx,
			flowRunEvent("prefect.flow-run.Failed", "1", now),
			flowRunEvent("prefect.flow-run.Failed", "2", now),
			flowRunEvent("prefect.flow-run.Completed", "1", now),
			flowRunEvent("prefect.flow-run.Failed", "1", now.Add(time.Second))))
		require.Eventually(t, func() bool { return len(acts.taken()) == 2 }, 10*time.Second, 10*time.Millisecond)
		got := acts.taken()
		require.Equal(t, a.ID, got[0].Automation.ID)
		require.Equal(t, []int{0, 1}, []int{got[0].ActionIndex, got[1].ActionIndex})
		require.Equal(t, map[string]string{"prefect.resource.id": "prefect.flow-run.1"}, got[0].TriggeringLabels)
		require.Equal(t, "prefect.flow-run.Failed", got[0].TriggeringEvent.Event)
		require.Equal(t, "prefect.automation.triggered", got[1].TriggeringEvent.Event, "actions_on_trigger act on the triggered event")
		require.Eventually(t, func() bool {
			for _, n := range seen.names() {
				if n == "prefect.automation.triggered" {
					return true
				}
			}
			return false
		}, 10*time.Second, 10*time.Millisecond)

		// A disabled automation is not evaluated.
		_, err := st.PatchAutomation(ctx, a.ID, schema.AutomationPartialUpdate{Enabled: schema.Optional[bool]{Set: true, Value: new(bool)}})
		require.NoError(t, err)
		require.NoError(t, broker.Publish(ctx, flowRunEvent("prefect.automation.updated", "x", now)))
		require.NoError(t, broker.Publish(ctx, flowRunEvent("prefect.flow-run.Failed", "3", now), flowRunEvent("prefect.flow-run.Failed", "3", now)))
		time.Sleep(200 * time.Millisecond)
		require.Len(t, acts.taken(), 2)
	})
}

func TestTriggersProactiveAndComposite(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		// A run Pending for 10 s without Running fires (proactive); a
		// sequence of a then b fires once.
		storetest.Automation(t, st, map[string]any{"name": "stuck", "trigger": map[string]any{
			"posture": "Proactive", "after": []string{"prefect.flow-run.Pending"}, "expect": []string{"prefect.flow-run.Running"},
			"for_each": []string{"prefect.resource.id"}, "within": 10},
			"actions": []any{map[string]any{"type": "do-nothing"}}})
		storetest.Automation(t, st, map[string]any{"name": "a then b", "trigger": map[string]any{"type": "sequence", "within": 60,
			"triggers": []any{
				map[string]any{"posture": "Reactive", "expect": []string{"a"}},
				map[string]any{"posture": "Reactive", "expect": []string{"b"}}}},
			"actions": []any{map[string]any{"type": "do-nothing"}}})
		// A clock that runs, and can be moved ahead.
		var mu sync.Mutex
		var ahead time.Duration
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().UTC().Add(ahead) }
		broker, acts, _ := startTriggers(t, st, now)
		start := now()
		require.NoError(t, broker.Publish(ctx,
			flowRunEvent("prefect.flow-run.Pending", "slow", start), flowRunEvent("prefect.flow-run.Pending", "quick", start),
			flowRunEvent("prefect.flow-run.Running", "quick", start.Add(time.Second)),
			flowRunEvent("b", "x", start), flowRunEvent("a", "x", start.Add(time.Second)), flowRunEvent("b", "x", start.Add(2*time.Second))))
		require.Eventually(t, func() bool { return len(acts.taken()) == 1 }, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, "a then b", acts.taken()[0].Automation.Name)
		require.Len(t, acts.taken()[0].Firing.TriggeringFirings, 2)

		mu.Lock()
		ahead = 11 * time.Second
		mu.Unlock()
		require.Eventually(t, func() bool { return len(acts.taken()) == 2 }, 10*time.Second, 10*time.Millisecond)
		stuck := acts.taken()[1]
		require.Equal(t, "stuck", stuck.Automation.Name)
		require.Equal(t, map[string]string{"prefect.resource.id": "prefect.flow-run.slow"}, stuck.TriggeringLabels)
		time.Sleep(200 * time.Millisecond)
		require.Len(t, acts.taken(), 2, "the run that started does not fire")
	})
}

func TestTriggersCarryOnAfterARestart(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		storetest.Automation(t, st, map[string]any{"name": "three in a window", "trigger": map[string]any{
			"posture": "Reactive", "expect": []string{"tick"}, "threshold": 3, "within": 600},
			"actions": []any{map[string]any{"type": "do-nothing"}}})
		now := time.Now().UTC()
		// The first evaluator counts two events; then the stream moves to
		// another (a restart, or a new leader with its own broker): the
		// bucket is in the database.
		broker, acts, seen := startTriggers(t, st, nil)
		require.NoError(t, broker.Publish(ctx, flowRunEvent("tick", "1", now), flowRunEvent("tick", "1", now.Add(time.Second))))
		require.NoError(t, broker.Publish(ctx, flowRunEvent("marker", "m", now)))
		require.Eventually(t, func() bool { return len(seen.names()) == 3 }, 10*time.Second, 10*time.Millisecond)
		time.Sleep(100 * time.Millisecond) // the triggers subscription is behind the watcher's by at most a moment
		require.Empty(t, acts.taken())

		// The other carries on: the third event fires, once.
		broker2, acts2, _ := startTriggers(t, st, nil)
		require.NoError(t, broker2.Publish(ctx, flowRunEvent("tick", "1", now.Add(2*time.Second))))
		require.Eventually(t, func() bool { return len(acts2.taken()) == 1 }, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, broker2.Publish(ctx, flowRunEvent("tick", "1", now.Add(3*time.Second))))
		time.Sleep(200 * time.Millisecond)
		require.Len(t, acts2.taken(), 1, "the rest of the window counts for nothing")
		require.Empty(t, acts.taken())
	})
}
