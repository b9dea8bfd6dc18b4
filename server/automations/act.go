package automations

import (
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// StateChangeEvent is the prefect.automation.triggered (or .resolved) event
// of a firing of the automation's own trigger, as Prefect emits it: about the
// automation (with the posture of an event trigger), related to the
// triggering event, carrying the triggering labels and event.
func (a *Automation) StateChangeEvent(f Firing, state string) schema.Event {
	resource := schema.Resource{"prefect.resource.id": "prefect.automation." + a.ID.String(), "prefect.resource.name": a.Name}
	if a.Trigger.Type == schema.TriggerEvent && a.Trigger.Posture != "" {
		resource["prefect.posture"] = a.Trigger.Posture
	}
	related := []schema.Resource{}
	if f.TriggeringEvent != nil {
		related = append(related, schema.Resource{"prefect.resource.id": "prefect.event." + f.TriggeringEvent.ID.String(),
			"prefect.resource.role": "triggering-event"})
	}
	labels := f.TriggeringLabels
	if labels == nil {
		labels = map[string]string{}
	}
	payload, _ := json.Marshal(struct {
		TriggeringLabels map[string]string `json:"triggering_labels"`
		TriggeringEvent  *schema.Event     `json:"triggering_event"`
	}{labels, f.TriggeringEvent})
	return schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: f.Triggered, Event: "prefect.automation." + strings.ToLower(state),
		Resource: resource, Related: related, Payload: payload}
}

// Act is Prefect's triggers.act: the state change events of a firing of the
// automation's own trigger, and the actions to carry out: every one of
// actions, then actions_on_trigger (on the triggered event) and
// actions_on_resolve (on the resolved event), numbered in that order.
func (a *Automation) Act(f Firing) ([]schema.Event, []TriggeredAction) {
	events := map[string]schema.Event{}
	var out []schema.Event
	for _, state := range []string{Triggered, Resolved} {
		for _, s := range f.TriggerStates {
			if s == state {
				e := a.StateChangeEvent(f, state)
				events[state] = e
				out = append(out, e)
			}
		}
	}
	var primary *uuid.UUID
	if e, ok := events[Triggered]; ok {
		primary = &e.ID
	} else if e, ok := events[Resolved]; ok {
		primary = &e.ID
	}
	type source struct {
		event   *schema.Event
		action  schema.Action
		eventID *uuid.UUID
	}
	var sources []source
	for _, act := range a.Actions {
		sources = append(sources, source{f.TriggeringEvent, act, primary})
	}
	if e, ok := events[Triggered]; ok {
		for _, act := range a.ActionsOnTrigger {
			sources = append(sources, source{&e, act, &e.ID})
		}
	}
	if e, ok := events[Resolved]; ok {
		for _, act := range a.ActionsOnResolve {
			sources = append(sources, source{&e, act, &e.ID})
		}
	}
	actions := make([]TriggeredAction, len(sources))
	for i, s := range sources {
		actions[i] = TriggeredAction{ID: uuid.Must(uuid.NewV7()), Automation: a.Automation, Firing: f, Triggered: f.Triggered,
			TriggeringLabels: f.TriggeringLabels, TriggeringEvent: s.event, Action: s.action, ActionIndex: i,
			AutomationTriggeredEventID: s.eventID}
	}
	return out, actions
}
