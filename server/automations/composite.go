package automations

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/store"
)

// RecordChild keeps a child's firing with its composite's others and
// claims them all when ready says they fire it (AutomationState's
// RecordChildFiring).
type RecordChild func(cf store.ChildFiring, notBefore *time.Time, ready func([]store.ChildFiring) bool) ([]store.ChildFiring, error)

// FireComposite is Prefect's evaluate_composite_trigger: a child's firing
// fires a composite that needs only one at once; otherwise it is kept (the
// child's latest, within the composite's window) until the kept firings
// satisfy the composite, which then fires with them, claimed so that two
// evaluations never fire it twice. It returns the composite's firing, if it
// fired; wall is when.
func FireComposite(c *CompositeTrigger, f Firing, record RecordChild, wall time.Time) (Firing, bool, error) {
	up := Firing{ID: uuid.Must(uuid.NewV7()), TriggerID: c.ID, TriggerStates: []string{Triggered}, Triggered: wall,
		TriggeringLabels: map[string]string{}, TriggeringEvent: f.TriggeringEvent}
	if c.expectedFirings() == 1 {
		up.TriggeringFirings = []Firing{f}
		return up, true, nil
	}
	var notBefore *time.Time
	if w, ok := c.within(); ok {
		t := f.Triggered.Add(-w)
		notBefore = &t
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return Firing{}, false, err
	}
	claimed, err := record(store.ChildFiring{AutomationID: c.Automation.ID, ParentTriggerID: c.ID, ChildTriggerID: f.TriggerID,
		FiringID: f.ID, FiredAt: f.Triggered, Firing: raw}, notBefore, func(kept []store.ChildFiring) bool {
		return c.readyToFire(decodeFirings(kept))
	})
	if err != nil || len(claimed) == 0 {
		return Firing{}, false, err
	}
	up.TriggeringFirings = decodeFirings(claimed)
	return up, true, nil
}

// decodeFirings reads kept child firings; one that does not decode (written
// by another version) is left out.
func decodeFirings(kept []store.ChildFiring) []Firing {
	out := make([]Firing, 0, len(kept))
	for _, cf := range kept {
		var f Firing
		if json.Unmarshal(cf.Firing, &f) == nil {
			out = append(out, f)
		}
	}
	return out
}
