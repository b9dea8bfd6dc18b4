package automations

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Trigger states a firing moves an automation into.
const (
	Triggered = "Triggered"
	Resolved  = "Resolved"
)

// Firing is one trigger having fired: when, for which for_each labels, on
// which event (the last one counted, for a proactive trigger that fired on
// an absence), and for a composite trigger the children's firings that
// made it fire.
type Firing struct {
	ID                uuid.UUID         `json:"id"`
	TriggerID         uuid.UUID         `json:"trigger_id"`
	TriggerStates     []string          `json:"trigger_states"`
	Triggered         time.Time         `json:"triggered"`
	TriggeringLabels  map[string]string `json:"triggering_labels"`
	TriggeringFirings []Firing          `json:"triggering_firings"`
	TriggeringEvent   *schema.Event     `json:"triggering_event"`
}

// TriggeredAction is one action of an automation to carry out for a firing:
// Prefect's TriggeredAction. ID is the invocation, named in the action's
// events; AutomationTriggeredEventID is the prefect.automation.triggered (or
// resolved) event it follows.
type TriggeredAction struct {
	ID                         uuid.UUID         `json:"id"`
	Automation                 schema.Automation `json:"automation"`
	Firing                     Firing            `json:"firing"`
	Triggered                  time.Time         `json:"triggered"`
	TriggeringLabels           map[string]string `json:"triggering_labels"`
	TriggeringEvent            *schema.Event     `json:"triggering_event"`
	Action                     schema.Action     `json:"action"`
	ActionIndex                int               `json:"action_index"`
	AutomationTriggeredEventID *uuid.UUID        `json:"automation_triggered_event_id"`
}

// Actor carries out triggered actions. Act reports nothing: the outcome of
// each action is the prefect.automation.action.* events it emits.
type Actor interface {
	Act(ctx context.Context, a TriggeredAction)
}
