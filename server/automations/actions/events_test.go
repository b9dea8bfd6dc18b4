package actions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestActionEventsAreAsPrefectEmitsThem checks the two events of an action
// field by field against Prefect's Action.succeed and fail.
func TestActionEventsAreAsPrefectEmitsThem(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)

		// An event trigger: the automation's resource names its posture; a
		// recent triggering event is followed.
		ev := eventAbout("thing.happened", schema.Resource{"prefect.resource.id": "thing.1"})
		ev.Occurred = now.Add(-time.Minute)
		ta := triggered(action(t, `{"type":"do-nothing"}`), ev)
		ta.Triggered, ta.ActionIndex = now, 2
		stateEvent := uuid.New()
		ta.AutomationTriggeredEventID = &stateEvent
		f.actor.Act(ctx, ta)
		require.Len(t, f.sink.events, 2)
		trig, done := f.sink.events[0], f.sink.events[1]

		resource := schema.Resource{"prefect.resource.id": "prefect.automation." + ta.Automation.ID.String(),
			"prefect.resource.name": "test", "prefect.trigger-type": "event", "prefect.posture": "Reactive"}
		related := []schema.Resource{
			{"prefect.resource.id": "prefect.event." + stateEvent.String(), "prefect.resource.role": "automation-triggered-event"},
			{"prefect.resource.id": "prefect.event." + ev.ID.String(), "prefect.resource.role": "triggering-event"},
		}
		require.Equal(t, "prefect.automation.action.triggered", trig.Event)
		require.Equal(t, now, trig.Occurred, "occurred when the action was triggered")
		require.Equal(t, resource, trig.Resource)
		require.Equal(t, related, trig.Related)
		require.Equal(t, &ev.ID, trig.Follows)
		require.JSONEq(t, `{"action_index": 2, "action_type": "do-nothing", "invocation": "`+ta.ID.String()+`"}`, string(trig.Payload))

		require.Equal(t, "prefect.automation.action.executed", done.Event)
		require.Equal(t, resource, done.Resource)
		require.Equal(t, related, done.Related)
		require.Equal(t, &trig.ID, done.Follows)
		require.False(t, done.Occurred.Before(trig.Occurred))
		require.NotEqual(t, trig.ID, done.ID)
		require.JSONEq(t, string(trig.Payload), string(done.Payload))

		// A compound trigger has no posture; an old triggering event is not
		// followed; a failure adds its reason.
		old := eventAbout("thing.happened", schema.Resource{"prefect.resource.id": "thing.1"})
		old.Occurred = now.Add(-10 * time.Minute)
		ta = triggered(action(t, `{"type":"cancel-flow-run"}`), old)
		ta.Automation.Trigger = schema.Trigger{Type: "compound", Triggers: []schema.Trigger{}}
		ta.Triggered = now
		f.actor.Act(ctx, ta)
		trig, done = f.sink.events[2], f.sink.events[3]
		require.Equal(t, schema.Resource{"prefect.resource.id": "prefect.automation." + ta.Automation.ID.String(),
			"prefect.resource.name": "test", "prefect.trigger-type": "compound"}, trig.Resource)
		require.Nil(t, trig.Follows)
		require.Equal(t, []schema.Resource{{"prefect.resource.id": "prefect.event." + old.ID.String(),
			"prefect.resource.role": "triggering-event"}}, trig.Related)
		require.Equal(t, "prefect.automation.action.failed", done.Event)
		var payload map[string]any
		require.NoError(t, json.Unmarshal(done.Payload, &payload))
		require.Equal(t, map[string]any{"action_index": 0.0, "action_type": "cancel-flow-run", "invocation": ta.ID.String(),
			"reason": "No flow run could be inferred"}, payload)

		// Without a triggering event (a proactive trigger that saw none)
		// nothing is related and nothing followed.
		ta = automations.TriggeredAction{ID: uuid.New(), Automation: ta.Automation, Triggered: now,
			Action: action(t, `{"type":"do-nothing"}`), TriggeringLabels: map[string]string{}}
		f.actor.Act(ctx, ta)
		require.Empty(t, f.sink.events[4].Related)
		require.Nil(t, f.sink.events[4].Follows)
	})
}
