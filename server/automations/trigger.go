package automations

import (
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// precedingEventLookback is how far before its event a reactive trigger's
// first bucket starts, so events evaluated slightly out of order still count
// (Prefect's PRECEDING_EVENT_LOOKBACK).
const precedingEventLookback = 15 * time.Minute

// EventTrigger is an event trigger of a loaded automation, compiled for
// matching, with the composite trigger above it if any.
type EventTrigger struct {
	schema.Trigger
	Automation *schema.Automation
	Parent     *CompositeTrigger

	prefilter     *regexp.Regexp
	expect, after []glob
	match         spec
	matchRelated  []spec
	within        time.Duration
}

// CompositeTrigger is a compound or sequence trigger of a loaded automation.
type CompositeTrigger struct {
	schema.Trigger
	Automation *schema.Automation
	Parent     *CompositeTrigger
}

// Automation is a loaded automation: its event triggers and composite
// triggers by id.
type Automation struct {
	schema.Automation
	Events     []*EventTrigger
	Composites map[uuid.UUID]*CompositeTrigger
}

// Load compiles an automation's triggers.
func Load(a schema.Automation) *Automation {
	out := &Automation{Automation: a, Composites: map[uuid.UUID]*CompositeTrigger{}}
	out.add(a.Trigger, nil)
	return out
}

func (a *Automation) add(t schema.Trigger, parent *CompositeTrigger) {
	switch t.Type {
	case schema.TriggerEvent:
		a.Events = append(a.Events, compileEventTrigger(t, &a.Automation, parent))
	case schema.TriggerCompound, schema.TriggerSequence:
		c := &CompositeTrigger{Trigger: t, Automation: &a.Automation, Parent: parent}
		a.Composites[t.ID] = c
		for _, child := range t.Triggers {
			a.add(child, c)
		}
	}
}

func compileEventTrigger(t schema.Trigger, a *schema.Automation, parent *CompositeTrigger) *EventTrigger {
	et := &EventTrigger{Trigger: t, Automation: a, Parent: parent,
		prefilter: eventPrefilter(t.Expect, t.After), match: compileSpec(t.Match), matchRelated: compileSpecs(t.MatchRelated)}
	for _, e := range t.Expect {
		et.expect = append(et.expect, compileGlob(e))
	}
	for _, e := range t.After {
		et.after = append(et.after, compileGlob(e))
	}
	if t.Within != nil {
		et.within = time.Duration(*t.Within * float64(time.Second))
	}
	return et
}

// Within is the trigger's window.
func (t *EventTrigger) Within() time.Duration { return t.within }

// Proactive says whether the trigger fires on the absence of events.
func (t *EventTrigger) Proactive() bool { return t.Posture == schema.PostureProactive }

// Covers says whether the event is one the trigger is interested in: its
// name passes the prefilter and its resources match.
func (t *EventTrigger) Covers(e schema.Event) bool {
	if !t.prefilter.MatchString(e.Event) || !t.match.includes([]schema.Resource{e.Resource}) {
		return false
	}
	for _, s := range t.matchRelated {
		if !s.includes(e.Related) {
			return false
		}
	}
	return true
}

// StartsAfter says whether the event opens the trigger's window (after).
func (t *EventTrigger) StartsAfter(event string) bool {
	return slices.ContainsFunc(t.after, func(g glob) bool { return g.matches(event, true) })
}

// Expects says whether the trigger counts the event (any, when it expects
// nothing in particular).
func (t *EventTrigger) Expects(event string) bool {
	if len(t.expect) == 0 {
		return true
	}
	return slices.ContainsFunc(t.expect, func(g glob) bool { return g.matches(event, true) })
}

// BucketingKey is the event's value of each for_each label, in label order
// ("" when it has none).
func (t *EventTrigger) BucketingKey(e schema.Event) []string {
	labels := slices.Sorted(slices.Values(t.ForEach))
	key := make([]string, len(labels))
	for i, l := range labels {
		key[i], _ = findResourceLabel(e, l)
	}
	return key
}

// labelsOf pairs the sorted for_each labels with a bucketing key.
func (t *EventTrigger) labelsOf(key []string) map[string]string {
	labels := slices.Sorted(slices.Values(t.ForEach))
	out := map[string]string{}
	for i, l := range labels {
		if i < len(key) {
			out[l] = key[i]
		}
	}
	return out
}

// immediate: a reactive trigger without a window fires for every event.
func (t *EventTrigger) immediate() bool { return !t.Proactive() && t.within == 0 }

// meetsThreshold: a reactive trigger at threshold events or more, a
// proactive one below it.
func (t *EventTrigger) meetsThreshold(count int) bool {
	if t.Proactive() {
		return count < t.Threshold
	}
	return count >= t.Threshold
}

// expectedFirings is how many of its children's firings a composite trigger
// needs.
func (c *CompositeTrigger) expectedFirings() int {
	if c.Type == schema.TriggerCompound {
		switch string(c.Require) {
		case `"any"`:
			return 1
		case `"all"`:
			return len(c.Triggers)
		}
		n, _ := strconv.Atoi(string(c.Require))
		return n
	}
	return len(c.Triggers)
}

// readyToFire says whether the children's firings (one per child at most)
// fire the composite: enough of them for a compound trigger, all of them in
// the children's order of firing for a sequence.
func (c *CompositeTrigger) readyToFire(firings []Firing) bool {
	if c.Type == schema.TriggerCompound {
		return len(firings) >= c.expectedFirings()
	}
	sorted := slices.SortedStableFunc(slices.Values(firings), func(a, b Firing) int { return a.Triggered.Compare(b.Triggered) })
	if len(sorted) != len(c.Triggers) {
		return false
	}
	for i, f := range sorted {
		if f.TriggerID != c.Triggers[i].ID {
			return false
		}
	}
	return true
}

// within is the composite's window, 0 for none.
func (c *CompositeTrigger) within() (time.Duration, bool) {
	if c.Within == nil {
		return 0, false
	}
	return time.Duration(*c.Within * float64(time.Second)), true
}
