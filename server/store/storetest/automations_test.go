package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// reactive is the smallest trigger, for automations whose trigger does not matter.
var reactive = map[string]any{"posture": "Reactive"}

func runDeployment(id uuid.UUID) map[string]any {
	return map[string]any{"type": "run-deployment", "deployment_id": id}
}

func decodeAutomationUpdate(t *testing.T, body map[string]any) schema.AutomationCore {
	t.Helper()
	var u schema.AutomationCore
	require.NoError(t, json.Unmarshal([]byte(jsonOf(t, body)), &u))
	require.NoError(t, u.Validate())
	return u
}

func automationNames(as []schema.Automation) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

func TestAutomations(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		trigger := map[string]any{"type": "compound", "require": "any", "within": 60, "triggers": []any{
			map[string]any{"posture": "Reactive", "expect": []string{"prefect.flow-run.Failed"}, "match": map[string]any{"prefect.resource.id": "prefect.flow-run.*"}},
			map[string]any{"posture": "Proactive", "expect": []string{"prefect.flow-run.Completed"}, "within": 300},
		}}
		a := Automation(t, s, map[string]any{"name": "on failure", "trigger": trigger, "actions": []any{
			map[string]any{"type": "change-flow-run-state", "state": "CANCELLED", "message": "stop"},
			map[string]any{"type": "call-webhook", "block_document_id": uuid.New(), "payload": map[string]any{"text": "{{ event.id }}"}},
		}, "actions_on_resolve": []any{map[string]any{"type": "do-nothing"}}})
		require.Equal(t, "", a.Description)
		require.True(t, a.Enabled)
		require.Equal(t, []string{}, a.Tags)
		require.Len(t, a.Trigger.Triggers, 2)
		require.Equal(t, 300.0, *a.Trigger.Triggers[1].Within)

		got, err := s.ReadAutomation(ctx, a.ID)
		require.NoError(t, err)
		require.NoError(t, got.Trigger.Check("trigger"))
		require.JSONEq(t, jsonOf(t, a), jsonOf(t, got), "reads back as created")
		require.True(t, a.Created.Equal(got.Created))

		// A PUT changes what it sends and keeps the rest (Prefect's
		// exclude_unset), here description, tags and enabled.
		desc := Automation(t, s, map[string]any{"name": "described", "description": "d", "tags": []string{"x"}, "enabled": false,
			"trigger": reactive, "actions": []any{}})
		updated, err := s.UpdateAutomation(ctx, desc.ID, decodeAutomationUpdate(t, map[string]any{"name": "renamed",
			"trigger": map[string]any{"posture": "Proactive"}, "actions": []any{map[string]any{"type": "cancel-flow-run"}}}))
		require.NoError(t, err)
		got, err = s.ReadAutomation(ctx, desc.ID)
		require.NoError(t, err)
		require.JSONEq(t, jsonOf(t, updated), jsonOf(t, got))
		require.Equal(t, "renamed", got.Name)
		require.Equal(t, "d", got.Description)
		require.Equal(t, []string{"x"}, got.Tags)
		require.False(t, got.Enabled)
		require.Equal(t, schema.PostureProactive, got.Trigger.Posture)
		require.Equal(t, "cancel-flow-run", got.Actions[0].Type)
		require.True(t, got.Created.Equal(desc.Created))
		require.False(t, got.Updated.Before(desc.Updated))
		_, err = s.UpdateAutomation(ctx, uuid.New(), decodeAutomationUpdate(t, map[string]any{"name": "x", "trigger": reactive, "actions": []any{}}))
		require.ErrorIs(t, err, schema.ErrNotFound)

		// A PATCH sets enabled; without it, only the updated time moves.
		off := false
		patched, err := s.PatchAutomation(ctx, a.ID, schema.AutomationPartialUpdate{Enabled: schema.Some(off)})
		require.NoError(t, err)
		require.False(t, patched.Enabled)
		again, err := s.PatchAutomation(ctx, a.ID, schema.AutomationPartialUpdate{})
		require.NoError(t, err)
		require.False(t, again.Enabled)
		require.False(t, again.Updated.Before(patched.Updated))
		got, err = s.ReadAutomation(ctx, a.ID)
		require.NoError(t, err)
		require.False(t, got.Enabled)
		_, err = s.PatchAutomation(ctx, uuid.New(), schema.AutomationPartialUpdate{})
		require.ErrorIs(t, err, schema.ErrNotFound)

		// Enabling an automation that would run deployments without end is
		// refused, as creating it enabled is; it stays disabled.
		loop := Automation(t, s, map[string]any{"name": "loop", "enabled": false,
			"trigger": map[string]any{"posture": "Reactive", "expect": []string{"prefect.flow-run.Running"}},
			"actions": []any{map[string]any{"type": "run-deployment", "source": "inferred"}}})
		_, err = s.PatchAutomation(ctx, loop.ID, schema.AutomationPartialUpdate{Enabled: schema.Some(true)})
		var verr *schema.ValidationError
		require.ErrorAs(t, err, &verr)
		require.Contains(t, verr.Msg, "infinite loop")
		got, err = s.ReadAutomation(ctx, loop.ID)
		require.NoError(t, err)
		require.False(t, got.Enabled)

		deleted, err := s.DeleteAutomation(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, a.ID, deleted.ID)
		require.Equal(t, "on failure", deleted.Name)
		_, err = s.ReadAutomation(ctx, a.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		_, err = s.DeleteAutomation(ctx, a.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
	})
}

func TestAutomationFilters(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		create := func(name string, tags ...string) schema.Automation {
			if tags == nil {
				tags = []string{}
			}
			return Automation(t, s, map[string]any{"name": name, "tags": tags, "trigger": reactive, "actions": []any{}})
		}
		b := create("b", "red", "blue")
		time.Sleep(2 * time.Millisecond) // distinct created times
		a := create("a", "red")
		time.Sleep(2 * time.Millisecond)
		create("c")
		filter := func(q schema.AutomationQuery) []string {
			t.Helper()
			out, err := s.FilterAutomations(ctx, q)
			require.NoError(t, err)
			n, err := s.CountAutomations(ctx, q)
			require.NoError(t, err)
			if q.Limit == nil && q.Offset == 0 {
				require.Equal(t, len(out), n, "count agrees with filter")
			}
			return automationNames(out)
		}
		where := func(f schema.AutomationFilter) schema.AutomationQuery {
			return schema.AutomationQuery{Automations: &f}
		}

		require.Equal(t, []string{"a", "b", "c"}, filter(schema.AutomationQuery{}), "by name")
		require.Equal(t, []string{"c", "b", "a"}, filter(schema.AutomationQuery{Sort: "NAME_DESC"}))
		require.Equal(t, []string{"c", "a", "b"}, filter(schema.AutomationQuery{Sort: "CREATED_DESC"}))
		_, err := s.PatchAutomation(ctx, b.ID, schema.AutomationPartialUpdate{})
		require.NoError(t, err)
		require.Equal(t, []string{"b", "c", "a"}, filter(schema.AutomationQuery{Sort: "UPDATED_DESC"}))
		_, err = s.FilterAutomations(ctx, schema.AutomationQuery{Sort: "ID_DESC"})
		var verr *schema.ValidationError
		require.ErrorAs(t, err, &verr)

		require.Equal(t, []string{"a", "c"}, filter(where(schema.AutomationFilter{Name: &schema.AutomationFilterName{Any: []string{"c", "a", "zz"}}})))
		require.Equal(t, []string{}, filter(where(schema.AutomationFilter{Name: &schema.AutomationFilterName{Any: []string{}}})))
		require.Equal(t, []string{"b"}, filter(where(schema.AutomationFilter{ID: &schema.AutomationFilterID{Any: []uuid.UUID{b.ID, uuid.New()}}})))
		require.Equal(t, []string{"a", "b"}, filter(where(schema.AutomationFilter{Created: &schema.AutomationFilterCreated{Before: &schema.DateTime{Time: a.Created}}})))
		require.Equal(t, []string{"a", "b"}, filter(where(schema.AutomationFilter{Tags: &schema.TagsFilter{Any: []string{"red"}}})))
		require.Equal(t, []string{"b"}, filter(where(schema.AutomationFilter{Tags: &schema.TagsFilter{All: []string{"red", "blue"}}})))
		require.Equal(t, []string{"c"}, filter(where(schema.AutomationFilter{Tags: &schema.TagsFilter{IsNull: ptr(true)}})))
		require.Equal(t, []string{"a", "c"}, filter(where(schema.AutomationFilter{Operator: "or_",
			Name: &schema.AutomationFilterName{Any: []string{"c"}}, ID: &schema.AutomationFilterID{Any: []uuid.UUID{a.ID}}})))
		require.Equal(t, []string{}, filter(where(schema.AutomationFilter{
			Name: &schema.AutomationFilterName{Any: []string{"c"}}, ID: &schema.AutomationFilterID{Any: []uuid.UUID{a.ID}}})))
		require.Equal(t, []string{"b"}, filter(schema.AutomationQuery{Page: schema.Page{Limit: ptr(1), Offset: 1}}))
		n, err := s.CountAutomations(ctx, schema.AutomationQuery{Page: schema.Page{Limit: ptr(1)}})
		require.NoError(t, err)
		require.Equal(t, 3, n, "count ignores the page")
	})
}

// What an automation relates to: the deployments its actions run by id
// (not those it pauses, infers or runs on trigger) and the resource that
// owns it; related-to finds it by either, owned-by deletes by the second.
func TestAutomationRelatedResources(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		d1, d2 := uuid.New(), uuid.New()
		r1, r2 := schema.DeploymentResource(d1), schema.DeploymentResource(d2)
		related := func(resource string) []string {
			t.Helper()
			out, err := s.ReadAutomationsRelatedTo(ctx, resource)
			require.NoError(t, err)
			return automationNames(out)
		}

		runs := Automation(t, s, map[string]any{"name": "runs", "trigger": reactive, "actions": []any{
			runDeployment(d1), runDeployment(d1), map[string]any{"type": "pause-deployment", "deployment_id": d2},
			map[string]any{"type": "run-deployment", "source": "inferred"}}})
		Automation(t, s, map[string]any{"name": "owned", "trigger": reactive, "actions": []any{}, "owner_resource": r1})
		Automation(t, s, map[string]any{"name": "on trigger", "trigger": reactive, "actions": []any{},
			"actions_on_trigger": []any{runDeployment(d1)}})
		both := Automation(t, s, map[string]any{"name": "both", "trigger": reactive, "actions": []any{runDeployment(d2)}, "owner_resource": r2})
		require.Equal(t, []string{"owned", "runs"}, related(r1))
		require.Equal(t, []string{"both"}, related(r2))
		require.Equal(t, []string{}, related("prefect.deployment."+uuid.NewString()))
		require.Equal(t, []string{}, related("nul\x00"))

		// A PUT relates the automation to the deployments it runs now; an
		// owner stays related, whatever the actions.
		_, err := s.UpdateAutomation(ctx, runs.ID, decodeAutomationUpdate(t, map[string]any{"name": "runs", "trigger": reactive,
			"actions": []any{runDeployment(d2)}}))
		require.NoError(t, err)
		_, err = s.UpdateAutomation(ctx, both.ID, decodeAutomationUpdate(t, map[string]any{"name": "both", "trigger": reactive, "actions": []any{}}))
		require.NoError(t, err)
		require.Equal(t, []string{"owned"}, related(r1))
		require.Equal(t, []string{"both", "runs"}, related(r2))

		// Owned-by deletes only what the resource owns, created by then.
		ids, err := s.DeleteAutomationsOwnedBy(ctx, r2, both.Created.Add(-time.Second))
		require.NoError(t, err)
		require.Empty(t, ids)
		ids, err = s.DeleteAutomationsOwnedBy(ctx, r2, time.Now())
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{both.ID}, ids)
		require.Equal(t, []string{"runs"}, related(r2))
		_, err = s.ReadAutomation(ctx, both.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		ids, err = s.DeleteAutomationsOwnedBy(ctx, r2, time.Now())
		require.NoError(t, err)
		require.Empty(t, ids)

		// Deleting an automation deletes its relations.
		_, err = s.DeleteAutomation(ctx, runs.ID)
		require.NoError(t, err)
		require.Equal(t, []string{}, related(r2))
		require.Equal(t, []string{"owned"}, related(r1))
	})
}

// Deleting a deployment deletes the automations it owns (those a deploy
// made of its triggers), not those that merely run it.
func TestDeploymentDeleteDeletesOwnedAutomations(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "automated")
		dep := Deployment(t, s, map[string]any{"name": "d", "flow_id": f.ID})
		other := Deployment(t, s, map[string]any{"name": "other", "flow_id": f.ID})
		owned := Automation(t, s, map[string]any{"name": "owned", "trigger": reactive, "actions": []any{runDeployment(dep.ID)},
			"owner_resource": schema.DeploymentResource(dep.ID)})
		runs := Automation(t, s, map[string]any{"name": "runs", "trigger": reactive, "actions": []any{runDeployment(dep.ID)}})
		kept := Automation(t, s, map[string]any{"name": "kept", "trigger": reactive, "actions": []any{},
			"owner_resource": schema.DeploymentResource(other.ID)})

		require.NoError(t, s.DeleteDeployment(ctx, dep.ID))
		_, err := s.ReadAutomation(ctx, owned.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		for _, id := range []uuid.UUID{runs.ID, kept.ID} {
			_, err := s.ReadAutomation(ctx, id)
			require.NoError(t, err)
		}
		left, err := s.ReadAutomationsRelatedTo(ctx, schema.DeploymentResource(dep.ID))
		require.NoError(t, err)
		require.Equal(t, []string{"runs"}, automationNames(left), "still names the deployment it runs")
	})
}
