package automations

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// load compiles an automation whose trigger is the JSON given, checked as
// the API checks it.
func load(t *testing.T, trigger string) *Automation {
	t.Helper()
	var c schema.AutomationCreate
	require.NoError(t, json.Unmarshal([]byte(`{"name":"a","trigger":`+trigger+`,"actions":[{"type":"do-nothing"}]}`), &c))
	require.NoError(t, c.Validate())
	return Load(c.New(uuid.New(), time.Now()))
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func event(name, resource string, at time.Duration, related ...schema.Resource) schema.Event {
	return schema.Event{ID: uuid.New(), Occurred: t0.Add(at), Event: name,
		Resource: schema.Resource{"prefect.resource.id": resource}, Related: related, Payload: json.RawMessage(`{}`)}
}

// feed runs events through the trigger as the service does, keeping one
// bucket per key, and returns the events each firing was on.
func feed(tr *EventTrigger, buckets map[string]*Bucket, evs ...schema.Event) []string {
	var fired []string
	for _, e := range evs {
		if !tr.Covers(e) {
			continue
		}
		key := string(mustJSON(tr.BucketingKey(e)))
		next, f := tr.OnEvent(buckets[key], e, e.Occurred)
		buckets[key] = next
		if f != nil {
			fired = append(fired, f.TriggeringEvent.Event+"@"+f.TriggeringEvent.Occurred.Sub(t0).String())
		}
	}
	return fired
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestReactiveImmediateFiresOnEveryEvent(t *testing.T) {
	tr := load(t, `{"posture":"Reactive","expect":["prefect.flow-run.Failed"],"match":{"prefect.resource.id":"prefect.flow-run.*"}}`).Events[0]
	buckets := map[string]*Bucket{}
	fired := feed(tr, buckets,
		event("prefect.flow-run.Failed", "prefect.flow-run.1", 0),
		event("prefect.flow-run.Completed", "prefect.flow-run.2", time.Second),
		event("prefect.flow-run.Failed", "prefect.task-run.3", 2*time.Second),
		event("prefect.flow-run.Failed", "prefect.flow-run.4", 3*time.Second))
	require.Equal(t, []string{"prefect.flow-run.Failed@0s", "prefect.flow-run.Failed@3s"}, fired)
	require.Nil(t, buckets[`[]`], "an immediate trigger keeps no bucket")
}

func TestReactiveThresholdWithinAWindow(t *testing.T) {
	tr := load(t, `{"posture":"Reactive","expect":["x.*"],"threshold":3,"within":60}`).Events[0]
	buckets := map[string]*Bucket{}
	fired := feed(tr, buckets,
		event("x.a", "r", 0), event("x.b", "r", 10*time.Second), event("x.c", "r", 20*time.Second),
		// The rest of the window after firing counts for nothing.
		event("x.d", "r", 30*time.Second),
		// The next window opens where the first ended (60 s): three more fire again.
		event("x.e", "r", 61*time.Second), event("x.f", "r", 62*time.Second), event("x.g", "r", 63*time.Second))
	require.Equal(t, []string{"x.c@20s", "x.g@1m3s"}, fired)
}

func TestReactiveEventPastTheWindowCountsInTheNext(t *testing.T) {
	tr := load(t, `{"posture":"Reactive","expect":["x"],"threshold":2,"within":10}`).Events[0]
	buckets := map[string]*Bucket{}
	require.Empty(t, feed(tr, buckets, event("x", "r", 0), event("x", "r", 30*time.Second)))
	b := buckets[`[]`]
	require.Equal(t, 1, b.Count)
	require.True(t, b.Start.Equal(t0.Add(30*time.Second)), b.Start)
	require.Equal(t, []string{"x@35s"}, feed(tr, buckets, event("x", "r", 35*time.Second)))
}

func TestForEachCountsEachKeyApart(t *testing.T) {
	tr := load(t, `{"posture":"Reactive","expect":["x"],"threshold":2,"within":60,
		"for_each":["related:flow:prefect.resource.id"]}`).Events[0]
	flow := func(id string) schema.Resource {
		return schema.Resource{"prefect.resource.id": "prefect.flow." + id, "prefect.resource.role": "flow"}
	}
	buckets := map[string]*Bucket{}
	fired := feed(tr, buckets, event("x", "r1", 0, flow("a")), event("x", "r2", time.Second, flow("b")),
		event("x", "r3", 2*time.Second, flow("a")))
	require.Equal(t, []string{"x@2s"}, fired)
	require.Equal(t, 1, buckets[`["prefect.flow.b"]`].Count)
	require.Equal(t, []string{"prefect.flow.b"}, tr.BucketingKey(event("x", "r", 0, flow("b"))))
}

func TestProactiveAfterFiresOnAbsence(t *testing.T) {
	tr := load(t, `{"posture":"Proactive","after":["prefect.flow-run.Pending"],"expect":["prefect.flow-run.Running"],
		"for_each":["prefect.resource.id"],"within":30}`).Events[0]
	buckets := map[string]*Bucket{}
	require.Empty(t, feed(tr, buckets,
		event("prefect.flow-run.Pending", "prefect.flow-run.slow", 0),
		event("prefect.flow-run.Pending", "prefect.flow-run.quick", 0),
		event("prefect.flow-run.Running", "prefect.flow-run.quick", 5*time.Second)))

	var all []Bucket
	for _, b := range buckets {
		all = append(all, *b)
	}
	// Before the window closes nothing fires; after it, only the run that never started.
	changes, fired, again := tr.OnTick(all, t0.Add(20*time.Second), t0.Add(20*time.Second))
	require.Empty(t, fired)
	require.True(t, again.Equal(t0.Add(30*time.Second)), again)
	require.Len(t, changes, 2, "the run that started is dropped; the other bucket is kept")
	_, fired, _ = tr.OnTick([]Bucket{*buckets[`["prefect.flow-run.slow"]`]}, t0.Add(31*time.Second), t0.Add(31*time.Second))
	require.Len(t, fired, 1)
	require.Equal(t, map[string]string{"prefect.resource.id": "prefect.flow-run.slow"}, fired[0].TriggeringLabels)
	require.Equal(t, "prefect.flow-run.Pending", fired[0].TriggeringEvent.Event, "the last event counted is the context")
}

func TestProactiveWithoutAfterWatchesEveryWindow(t *testing.T) {
	tr := load(t, `{"posture":"Proactive","expect":["heartbeat"],"within":60}`).Events[0]
	changes, fired, _ := tr.OnTick(nil, t0, t0)
	require.Empty(t, fired)
	require.Len(t, changes, 2)
	b := changes[len(changes)-1].Next
	require.True(t, b.Start.Equal(t0) && b.End.Equal(t0.Add(time.Minute)))
	// No heartbeat in the window: it fires, and the next window opens.
	changes, fired, _ = tr.OnTick([]Bucket{*b}, t0.Add(time.Minute), t0.Add(time.Minute))
	require.Len(t, fired, 1)
	require.True(t, changes[0].Next.Start.Equal(t0.Add(time.Minute)))
	// A heartbeat in the window: nothing fires.
	next, f := tr.OnEvent(changes[0].Next, event("heartbeat", "r", 90*time.Second), t0)
	require.Nil(t, f)
	require.Equal(t, 1, next.Count)
	changes, fired, _ = tr.OnTick([]Bucket{*next}, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	require.Empty(t, fired)
	require.Nil(t, changes[0].Next, "a bucket at its threshold cannot fire and is dropped")
}

func TestMatching(t *testing.T) {
	tr := load(t, `{"posture":"Reactive","expect":["prefect.flow-run.*"],
		"match":{"prefect.resource.id":["prefect.flow-run.*"],"env":"!dev"},
		"match_related":[{"prefect.resource.role":"flow","prefect.resource.name":"etl-?"},{"prefect.resource.role":"tag","prefect.resource.id":"prefect.tag.[a-c]*"}]}`).Events[0]
	related := []schema.Resource{
		{"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow", "prefect.resource.name": "etl-1"},
		{"prefect.resource.id": "prefect.tag.blue", "prefect.resource.role": "tag"},
	}
	ok := event("prefect.flow-run.Completed", "prefect.flow-run.1", 0, related...)
	ok.Resource["env"] = "prod"
	require.True(t, tr.Covers(ok))
	dev := ok
	dev.Resource = schema.Resource{"prefect.resource.id": "prefect.flow-run.1", "env": "dev"}
	require.False(t, tr.Covers(dev), "a negated label")
	noEnv := ok
	noEnv.Resource = schema.Resource{"prefect.resource.id": "prefect.flow-run.1"}
	require.False(t, tr.Covers(noEnv), "a missing label matches no pattern, negated or not")
	wrongTag := ok
	wrongTag.Related = []schema.Resource{related[0], {"prefect.resource.id": "prefect.tag.zz", "prefect.resource.role": "tag"}}
	require.False(t, tr.Covers(wrongTag))
	require.False(t, tr.Covers(event("prefect.task-run.Completed", "prefect.flow-run.1", 0, related...)))
	require.True(t, tr.Expects("prefect.flow-run.Failed"))
	require.False(t, tr.Expects("prefect.flow-run"))
}

func TestCompositeReadiness(t *testing.T) {
	a := load(t, `{"type":"sequence","within":60,"triggers":[
		{"posture":"Reactive","expect":["a"]},{"posture":"Reactive","expect":["b"]}]}`)
	seq := a.Composites[a.Trigger.ID]
	first, second := a.Events[0].ID, a.Events[1].ID
	in := func(id uuid.UUID, at time.Duration) Firing { return Firing{TriggerID: id, Triggered: t0.Add(at)} }
	require.True(t, seq.readyToFire([]Firing{in(second, 2), in(first, 1)}))
	require.False(t, seq.readyToFire([]Firing{in(second, 1), in(first, 2)}), "out of order")
	require.False(t, seq.readyToFire([]Firing{in(first, 1)}))

	c := load(t, `{"type":"compound","require":2,"within":null,"triggers":[
		{"posture":"Reactive","expect":["a"]},{"posture":"Reactive","expect":["b"]},{"posture":"Reactive","expect":["c"]}]}`)
	comp := c.Composites[c.Trigger.ID]
	require.Equal(t, 2, comp.expectedFirings())
	require.True(t, comp.readyToFire([]Firing{in(first, 1), in(second, 2)}))
	require.Same(t, comp, c.Events[2].Parent)
}
