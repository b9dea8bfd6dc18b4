package automations

import (
	"slices"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// Bucket is a trigger's count for one bucketing key over a window.
type Bucket = store.AutomationBucket

// newBucket opens a window for the key.
func (t *EventTrigger) newBucket(key []string, start, end time.Time, count int, last *schema.Event, op string) *Bucket {
	return &Bucket{AutomationID: t.Automation.ID, TriggerID: t.ID, Key: slices.Clone(key),
		Start: start, End: end, Count: count, LastEvent: last, LastOperation: op}
}

// firing is the trigger firing for the bucket's key, at wall.
func (t *EventTrigger) firing(key []string, ev *schema.Event, wall time.Time) Firing {
	return Firing{ID: uuid.Must(uuid.NewV7()), TriggerID: t.ID, TriggerStates: []string{Triggered},
		Triggered: wall, TriggeringLabels: t.labelsOf(key), TriggeringEvent: ev}
}

// Evaluate is Prefect's triggers.evaluate, pure: the bucket b (not nil) as
// of now, with the event ev counted when there is one, gives the bucket to
// keep for its key (nil: none) and the firing, if the trigger fired. wall is
// when a firing happens.
//
// At most one bucket is open per key. An event before the bucket's window
// is ignored; within it (or any event of an immediate trigger) it counts. A
// reactive trigger fires as soon as its bucket meets the threshold, a
// proactive one once the window has closed below it. After firing, or once
// the window has passed, the next window opens where this one ends (or now,
// if later), unless the trigger waits for an after event to open one. An
// event past the window counts in the next one, which a reactive trigger
// evaluates again at once.
func (t *EventTrigger) Evaluate(b *Bucket, now time.Time, ev *schema.Event, wall time.Time) (*Bucket, *Firing) {
	count := 0
	if ev != nil {
		count = 1
	}
	if now.Before(b.Start) {
		return b, nil // a late event, or a redundant one after a firing
	}
	b = cloneBucket(b)
	previousLast := b.LastEvent
	if count > 0 && (t.immediate() || (!now.Before(b.Start) && now.Before(b.End))) {
		b.Count += count
		b.LastEvent = ev
		b.LastOperation = "increment_bucket[update]"
		count = 0
	}

	ready := !t.Proactive() || !b.End.After(now)
	var fired *Firing
	switch {
	case ready && t.meetsThreshold(b.Count):
		triggering := ev
		if triggering == nil {
			triggering = b.LastEvent
		}
		f := t.firing(b.Key, triggering, wall)
		fired = &f
	case now.Before(b.End):
		// A proactive trigger whose after event is also the expected one
		// (heartbeats): each such event restarts the window from itself,
		// keeping an expect-only event that raced it as the context.
		if ev != nil && t.Proactive() && t.StartsAfter(ev.Event) && t.Expects(ev.Event) {
			last := ev
			if previousLast != nil && t.Expects(previousLast.Event) && !t.StartsAfter(previousLast.Event) &&
				!previousLast.Occurred.Before(ev.Occurred) {
				last = previousLast
			}
			return t.newBucket(b.Key, ev.Occurred, ev.Occurred.Add(t.within), 0, last, "start_new_bucket[insert]"), nil
		}
		return b, nil
	}

	if len(t.After) > 0 {
		return nil, fired // the next window opens on the next after event
	}
	if t.within == 0 {
		if fired != nil {
			return nil, fired
		}
		return b, nil
	}
	start := b.End
	if now.After(start) {
		start = now
	}
	end := start.Add(t.within)
	if !t.Proactive() && count > 0 {
		// The event belongs to the next window: open it and count it there.
		next, again := t.Evaluate(t.newBucket(b.Key, start, end, 0, nil, "start_new_bucket[insert]"), now, ev, wall)
		if fired == nil {
			fired = again
		}
		return next, fired
	}
	return t.newBucket(b.Key, start, end, count, nil, "start_new_bucket[insert]"), fired
}

func cloneBucket(b *Bucket) *Bucket {
	c := *b
	c.Key = slices.Clone(b.Key)
	return &c
}

// OnEvent is Prefect's reactive evaluation of one covered event for this
// trigger, given the key's current bucket (nil: none): an after event opens
// a window, an expected one opens a window reaching back
// precedingEventLookback when the trigger waits for no after event, and an
// expected event is then evaluated in the bucket. It returns the bucket to
// keep (nil: none) and any firing.
func (t *EventTrigger) OnEvent(cur *Bucket, ev schema.Event, wall time.Time) (*Bucket, *Firing) {
	key := t.BucketingKey(ev)
	b := cur
	if len(t.After) > 0 && t.StartsAfter(ev.Event) && b == nil {
		initial := 0
		if t.Expects(ev.Event) {
			// The event will count itself once below.
			initial = -1
		}
		b = t.newBucket(key, ev.Occurred, ev.Occurred.Add(t.within), initial, &ev, "ensure_bucket[insert]")
	}
	if b == nil && len(t.After) == 0 && t.Expects(ev.Event) {
		b = t.newBucket(key, ev.Occurred.Add(-precedingEventLookback), ev.Occurred.Add(t.within), 0, &ev, "ensure_bucket[insert]")
	}
	if !t.Expects(ev.Event) || b == nil {
		return b, nil
	}
	return t.Evaluate(b, ev.Occurred, &ev, wall)
}

// BucketChange is a bucket to keep (Next) or to delete (Next nil) for Key.
type BucketChange = store.BucketChange

// OnTick is Prefect's proactive evaluation of the trigger as of asOf over
// its buckets: a trigger without for_each always has its one bucket open;
// buckets already at the threshold can no longer fire and are dropped; the
// others are evaluated without an event. It returns the changes to make,
// the firings, and when to look again (the end of the trigger's window, or
// of the soonest bucket that closes before it).
func (t *EventTrigger) OnTick(buckets []Bucket, asOf, wall time.Time) ([]BucketChange, []Firing, time.Time) {
	runAgain := asOf.Add(t.within)
	var changes []BucketChange
	var fired []Firing
	if len(t.ForEach) == 0 && !slices.ContainsFunc(buckets, func(b Bucket) bool { return len(b.Key) == 0 }) {
		b := t.newBucket([]string{}, asOf, asOf.Add(t.within), 0, nil, "ensure_bucket[insert]")
		buckets = append(buckets, *b)
		changes = append(changes, BucketChange{Key: b.Key, Next: b})
	}
	for i := range buckets {
		b := &buckets[i]
		if b.Count >= t.Threshold {
			changes = append(changes, BucketChange{Key: b.Key})
			continue
		}
		next, f := t.Evaluate(b, asOf, nil, wall)
		if f != nil {
			fired = append(fired, *f)
		}
		if next != b {
			changes = append(changes, BucketChange{Key: b.Key, Next: next})
		}
		if next != nil && asOf.Before(next.End) && next.End.Before(runAgain) {
			runAgain = next.End
		}
	}
	return changes, fired, runAgain
}
