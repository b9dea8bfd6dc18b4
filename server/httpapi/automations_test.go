package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestAutomations: create with the defaults filled, read, filter and count,
// PUT and PATCH, related-to through an action's deployment and through
// ownership, owned-by and deployment deletes, and the 404s and 422s.
func TestAutomations(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "automated")
		r := s.do(t, http.MethodPost, "/deployments/", servedDeployment(flowID))
		requireStatus(t, http.StatusCreated, r)
		deployment := r.Object(t)["id"].(string)

		create := func(body map[string]any) map[string]any {
			t.Helper()
			r := s.do(t, http.MethodPost, "/automations/", body)
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)
		}
		reactive := map[string]any{"type": "event", "posture": "Reactive", "expect": []string{"prefect.flow-run.Completed"}, "id": uuid.NewString()}
		first := create(map[string]any{"name": "b-first", "trigger": reactive, "actions": []any{map[string]any{"type": "do-nothing"}}})
		require.Equal(t, true, first["enabled"])
		require.Equal(t, "", first["description"])
		require.Equal(t, []any{}, first["tags"])
		require.Equal(t, []any{}, first["actions_on_trigger"])
		trigger := first["trigger"].(map[string]any)
		require.NotEqual(t, reactive["id"], trigger["id"], "the client's trigger id is replaced")
		delete(trigger, "id")
		require.Equal(t, map[string]any{"type": "event", "posture": "Reactive", "expect": []any{"prefect.flow-run.Completed"},
			"after": []any{}, "for_each": []any{}, "match": map[string]any{}, "match_related": map[string]any{},
			"threshold": 1.0, "within": 0.0}, trigger)

		// A proactive trigger waits 10 seconds at least; a compound one holds
		// others; a run-deployment action relates it to its deployment.
		proactive := create(map[string]any{"name": "a-second", "tags": []string{"ops"},
			"trigger": map[string]any{"type": "compound", "require": "any", "within": nil, "triggers": []any{
				map[string]any{"type": "event", "posture": "Proactive", "expect": []string{"heartbeat"}}}},
			"actions": []any{map[string]any{"type": "run-deployment", "deployment_id": deployment}}})
		inner := proactive["trigger"].(map[string]any)["triggers"].([]any)[0].(map[string]any)
		require.Equal(t, 10.0, inner["within"])
		require.Equal(t, map[string]any{"type": "run-deployment", "source": "selected", "deployment_id": deployment,
			"parameters": nil, "job_variables": nil, "schedule_after": 0.0}, proactive["actions"].([]any)[0])
		owned := create(map[string]any{"name": "c-owned", "trigger": reactive, "actions": []any{}, "owner_resource": "prefect.deployment." + deployment})

		names := func(r reply) []string {
			t.Helper()
			requireStatus(t, http.StatusOK, r)
			var out []string
			for _, a := range r.List(t) {
				out = append(out, a.(map[string]any)["name"].(string))
			}
			return out
		}
		require.Equal(t, []string{"a-second", "b-first", "c-owned"}, names(s.do(t, http.MethodPost, "/automations/filter", map[string]any{})))
		require.Equal(t, []string{"c-owned", "b-first"}, names(s.do(t, http.MethodPost, "/automations/filter", map[string]any{"sort": "NAME_DESC", "limit": 2})))
		require.Equal(t, []string{"a-second"}, names(s.do(t, http.MethodPost, "/automations/filter",
			map[string]any{"automations": map[string]any{"tags": map[string]any{"all_": []string{"ops"}}}})))
		r = s.do(t, http.MethodPost, "/automations/count", map[string]any{"automations": map[string]any{"name": map[string]any{"any_": []string{"b-first", "c-owned"}}}})
		requireStatus(t, http.StatusOK, r)
		require.EqualValues(t, 2, r.JSON(t))
		require.Equal(t, []string{"a-second", "c-owned"}, names(s.do(t, http.MethodGet, "/automations/related-to/prefect.deployment."+deployment, nil)))

		// PATCH turns it off; PUT replaces it (and its relations).
		id := proactive["id"].(string)
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/automations/"+id, map[string]any{"enabled": false}))
		r = s.do(t, http.MethodGet, "/automations/"+id, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, false, r.Object(t)["enabled"])
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPut, "/automations/"+id,
			map[string]any{"name": "a-renamed", "trigger": reactive, "actions": []any{map[string]any{"type": "do-nothing"}}}))
		require.Equal(t, []string{"c-owned"}, names(s.do(t, http.MethodGet, "/automations/related-to/prefect.deployment."+deployment, nil)))

		// Deleting the deployment deletes what it owns, not the others.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/deployments/"+deployment, nil))
		requireNotFound(t, s.do(t, http.MethodGet, "/automations/"+owned["id"].(string), nil))
		require.Equal(t, []string{"a-renamed", "b-first"}, names(s.do(t, http.MethodPost, "/automations/filter", map[string]any{})))
		other := create(map[string]any{"name": "d-other", "trigger": reactive, "actions": []any{}, "owner_resource": "prefect.flow.x"})
		requireStatus(t, http.StatusAccepted, s.do(t, http.MethodDelete, "/automations/owned-by/prefect.flow.x", nil))
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/automations/"+other["id"].(string), nil))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/automations/"+first["id"].(string), nil))
		requireNotFound(t, s.do(t, http.MethodDelete, "/automations/"+first["id"].(string), nil))
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/automations/not-a-uuid", nil))

		// Bad input: pydantic's 422s, nothing stored.
		bad := func(body map[string]any, loc ...string) {
			t.Helper()
			requireValidationError(t, s.do(t, http.MethodPost, "/automations/", body), loc...)
		}
		bad(map[string]any{"trigger": reactive, "actions": []any{}}, "body", "name")
		bad(map[string]any{"name": "x", "trigger": map[string]any{"type": "metric"}, "actions": []any{}}, "body", "trigger")
		bad(map[string]any{"name": "x", "trigger": map[string]any{"type": "event"}, "actions": []any{}}, "body", "trigger", "EventTrigger", "posture")
		bad(map[string]any{"name": "x", "trigger": map[string]any{"type": "event", "posture": "Proactive", "within": 5}, "actions": []any{}}, "body", "trigger", "EventTrigger")
		bad(map[string]any{"name": "x", "trigger": reactive, "actions": []any{map[string]any{"type": "explode"}}}, "body", "actions", "0")
		bad(map[string]any{"name": "x", "trigger": reactive, "actions": []any{map[string]any{"type": "run-deployment"}}}, "body", "actions", "0", "function-after[selected_deployment_requires_id(), RunDeployment]")
		bad(map[string]any{"name": "x", "trigger": reactive, "actions": []any{}, "surprise": 1}, "body", "surprise")
		requireValidationError(t, s.do(t, http.MethodPost, "/automations/filter", map[string]any{"sort": "SIDEWAYS"}), "body", "sort")
		require.Equal(t, []string{"a-renamed"}, names(s.do(t, http.MethodPost, "/automations/filter", map[string]any{})))
	})
}

// The automations router as Prefect's client, CLI and UI call it.
func TestAutomationsAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		depID := uuid.NewString()
		body := map[string]any{"name": "on failure", "tags": []string{"ops"},
			"trigger": map[string]any{"posture": "Reactive", "expect": []string{"prefect.flow-run.Failed"},
				"match": map[string]any{"prefect.resource.id": "prefect.flow-run.*"}, "threshold": 2, "within": "PT5M"},
			"actions": []any{map[string]any{"type": "run-deployment", "deployment_id": depID, "parameters": map[string]any{"x": 1}}}}
		r := s.do(t, http.MethodPost, "/automations/", body)
		requireStatus(t, http.StatusCreated, r)
		createdBody, a := r.Body, r.Object(t)
		id := a["id"].(string)
		require.Equal(t, "on failure", a["name"])
		require.Equal(t, "", a["description"])
		require.Equal(t, true, a["enabled"])
		require.Equal(t, []any{"ops"}, a["tags"])
		trigger := a["trigger"].(map[string]any)
		require.NotEmpty(t, trigger["id"])
		delete(trigger, "id")
		require.Equal(t, map[string]any{"type": "event", "match": map[string]any{"prefect.resource.id": "prefect.flow-run.*"},
			"match_related": map[string]any{}, "after": []any{}, "expect": []any{"prefect.flow-run.Failed"}, "for_each": []any{},
			"posture": "Reactive", "threshold": 2.0, "within": 300.0}, trigger)
		require.Equal(t, []any{map[string]any{"type": "run-deployment", "source": "selected", "deployment_id": depID,
			"parameters": map[string]any{"x": 1.0}, "job_variables": nil, "schedule_after": 0.0}}, a["actions"])
		require.Equal(t, []any{}, a["actions_on_trigger"])
		require.Equal(t, []any{}, a["actions_on_resolve"])
		require.NotEmpty(t, a["created"])

		got := s.do(t, http.MethodGet, "/automations/"+id, nil)
		requireStatus(t, http.StatusOK, got)
		require.JSONEq(t, string(r.Body), string(got.Body))
		missing := "/automations/" + uuid.NewString()
		requireNotFound(t, s.do(t, http.MethodGet, missing, nil))
		requireNotFound(t, s.do(t, http.MethodDelete, missing, nil))
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/automations/nope", nil))

		// Related to the deployment its action runs, and to the deployment
		// that owns another.
		owned := s.do(t, http.MethodPost, "/automations", map[string]any{"name": "owned", "trigger": map[string]any{"posture": "Proactive"},
			"actions": []any{}, "owner_resource": "prefect.deployment." + depID})
		requireStatus(t, http.StatusCreated, owned)
		r = s.do(t, http.MethodGet, "/automations/related-to/prefect.deployment."+depID, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, []string{"on failure", "owned"}, names(t, r))
		r = s.do(t, http.MethodGet, "/automations/related-to/prefect.deployment."+uuid.NewString(), nil)
		require.Equal(t, []string{}, names(t, r))
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/automations/related-to/a/b", nil))
		for _, odd := range []string{"%00", "%ff"} {
			r = s.do(t, http.MethodGet, "/automations/related-to/"+odd, nil)
			require.Equal(t, []string{}, names(t, r), odd)
		}

		// Filter and count: by name by default, and their filters.
		r = s.do(t, http.MethodPost, "/automations/filter", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, []string{"on failure", "owned"}, names(t, r))
		// The client sends null for what it leaves to the defaults.
		r = s.do(t, http.MethodPost, "/automations/filter", map[string]any{"automations": nil, "sort": nil, "limit": nil, "offset": 0})
		require.Equal(t, []string{"on failure", "owned"}, names(t, r))
		r = s.do(t, http.MethodPost, "/automations/filter", map[string]any{"sort": "NAME_DESC", "limit": 1})
		require.Equal(t, []string{"owned"}, names(t, r))
		r = s.do(t, http.MethodPost, "/automations/filter", map[string]any{"automations": map[string]any{"name": map[string]any{"any_": []string{"owned"}}}})
		require.Equal(t, []string{"owned"}, names(t, r))
		r = s.do(t, http.MethodPost, "/automations/count", map[string]any{"automations": map[string]any{"tags": map[string]any{"all_": []string{"ops"}}}})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, 1.0, r.JSON(t))
		r = s.do(t, http.MethodPost, "/automations/count", nil)
		require.Equal(t, 2.0, r.JSON(t))
		requireValidationError(t, s.do(t, http.MethodPost, "/automations/filter", map[string]any{"automations": map[string]any{"name": map[string]any{"like_": "x"}}}),
			"body", "automations", "name", "like_")
		requireValidationError(t, s.do(t, http.MethodPost, "/automations/filter", map[string]any{"sort": "ID_DESC"}), "body", "sort")
		requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
			s.do(t, http.MethodPost, "/automations/filter", map[string]any{"limit": 201}))

		// PUT changes what it sends: 204, and the deployment is no longer run.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPut, "/automations/"+id, map[string]any{"name": "renamed",
			"trigger": map[string]any{"posture": "Reactive"}, "actions": []any{map[string]any{"type": "cancel-flow-run"}}}))
		got = s.do(t, http.MethodGet, "/automations/"+id, nil)
		require.Equal(t, "renamed", got.Object(t)["name"])
		require.Equal(t, []any{"ops"}, got.Object(t)["tags"], "kept")
		r = s.do(t, http.MethodGet, "/automations/related-to/prefect.deployment."+depID, nil)
		require.Equal(t, []string{"owned"}, names(t, r))
		requireNotFound(t, s.do(t, http.MethodPut, missing, map[string]any{"name": "x", "trigger": map[string]any{"posture": "Reactive"}, "actions": []any{}}))
		requireValidationError(t, s.do(t, http.MethodPut, "/automations/"+id, map[string]any{"name": "x",
			"trigger": map[string]any{"posture": "Reactive"}, "actions": []any{}, "owner_resource": "x"}), "body", "owner_resource")

		// PATCH enables and disables.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/automations/"+id, map[string]any{"enabled": false}))
		require.Equal(t, false, s.do(t, http.MethodGet, "/automations/"+id, nil).Object(t)["enabled"])
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/automations/"+id, map[string]any{}))
		require.Equal(t, false, s.do(t, http.MethodGet, "/automations/"+id, nil).Object(t)["enabled"], "an empty PATCH changes nothing")
		requireValidationError(t, s.do(t, http.MethodPatch, "/automations/"+id, map[string]any{"enabled": nil}), "body", "enabled")
		requireValidationError(t, s.do(t, http.MethodPatch, "/automations/"+id, nil), "body")
		requireNotFound(t, s.do(t, http.MethodPatch, missing, map[string]any{"enabled": true}))

		// Owned-by deletes what the deployment owns: 202 with null.
		r = s.do(t, http.MethodDelete, "/automations/owned-by/prefect.deployment."+depID, nil)
		requireStatus(t, http.StatusAccepted, r)
		require.Equal(t, "null\n", string(r.Body))
		r = s.do(t, http.MethodGet, "/automations/related-to/prefect.deployment."+depID, nil)
		require.Equal(t, []string{}, names(t, r))
		requireStatus(t, http.StatusAccepted, s.do(t, http.MethodDelete, "/automations/owned-by/nothing", nil))

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/automations/"+id, nil))
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/automations/"+id, nil))

		// Created, updated (PUT and PATCH) and deleted each emit Prefect's
		// event with the automation as payload; owned-by deletes none.
		s.sendMarker(t)
		evs, err := s.Store.ReadEvents(t.Context(), store.EventFilter{Names: []string{
			"prefect.automation.created", "prefect.automation.updated", "prefect.automation.deleted"}}, 100)
		require.NoError(t, err)
		byName := map[string][]schema.Event{}
		for _, ev := range evs {
			byName[ev.Event] = append(byName[ev.Event], ev)
		}
		require.Len(t, byName["prefect.automation.created"], 2)
		require.Len(t, byName["prefect.automation.updated"], 3)
		require.Len(t, byName["prefect.automation.deleted"], 1)
		first := byName["prefect.automation.created"][0]
		require.Equal(t, "prefect.automation."+id, first.Resource.ID())
		require.Equal(t, "on failure", first.Resource["prefect.resource.name"])
		require.JSONEq(t, string(createdBody), string(first.Payload), "the payload is the automation")
		deleted := byName["prefect.automation.deleted"][0]
		require.Equal(t, "renamed", deleted.Resource["prefect.resource.name"])
	})
}

// Bodies that are no automation: 422 in Prefect's shape, at pydantic's
// location.
func TestAutomationsAPIValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite)
	post := func(body map[string]any) reply { return s.do(t, http.MethodPost, "/automations/", body) }
	reactive := map[string]any{"posture": "Reactive"}

	res := requireValidationError(t, post(map[string]any{"name": "a", "trigger": map[string]any{"type": "nope"}, "actions": []any{}}), "body", "trigger")
	require.Equal(t, "Input tag 'nope' found using 'type' does not match any of the expected tags: 'event', 'compound', 'sequence'",
		res["exception_detail"].([]any)[0].(map[string]any)["msg"])
	res = requireValidationError(t, post(map[string]any{"name": "a", "trigger": reactive, "actions": []any{map[string]any{"type": "bogus"}}}),
		"body", "actions", "0")
	require.Contains(t, res["exception_detail"].([]any)[0].(map[string]any)["msg"], "'do-nothing', 'run-deployment'")
	requireValidationError(t, post(map[string]any{"name": "a", "trigger": map[string]any{"type": "event"}, "actions": []any{}}),
		"body", "trigger", "EventTrigger", "posture")
	requireValidationError(t, post(map[string]any{"name": "a", "trigger": map[string]any{"posture": "Reactive", "within": -1}, "actions": []any{}}),
		"body", "trigger", "EventTrigger", "within")
	requireValidationError(t, post(map[string]any{"name": "a", "trigger": reactive, "actions": []any{map[string]any{"type": "run-deployment"}}}),
		"body", "actions", "0", "function-after[selected_deployment_requires_id(), RunDeployment]")
	requireValidationError(t, post(map[string]any{"name": "a", "trigger": reactive}), "body", "actions")
	requireValidationError(t, post(map[string]any{"name": "a", "actions": []any{}}), "body", "trigger")
	requireValidationError(t, post(map[string]any{"name": "a", "trigger": reactive, "actions": []any{}, "extra": 1}), "body", "extra")
	requireValidationError(t, post(map[string]any{"name": "a\x00", "trigger": reactive, "actions": []any{}}), "body", "name")
	requireValidationError(t, post(map[string]any{"name": "a", "trigger": map[string]any{"posture": "Reactive", "expect": []string{"a\x00"}},
		"actions": []any{}}), "body", "trigger")
	requireValidationError(t, post(map[string]any{"name": "a", "trigger": reactive,
		"actions": []any{map[string]any{"type": "run-deployment", "deployment_id": uuid.NewString(), "parameters": map[string]any{"k": "\x00"}}}}),
		"body", "actions")

	// The loop check: at body on create, at the top of the automation on
	// the PATCH that enables it.
	loop := map[string]any{"name": "loop", "trigger": map[string]any{"posture": "Reactive", "expect": []string{"prefect.flow-run.Running"}},
		"actions": []any{map[string]any{"type": "run-deployment", "source": "inferred"}}}
	requireValidationError(t, post(loop), "body")
	loop["enabled"] = false
	r := post(loop)
	requireStatus(t, http.StatusCreated, r)
	res = requireValidationError(t, s.do(t, http.MethodPatch, "/automations/"+r.Object(t)["id"].(string), map[string]any{"enabled": true}))
	require.Equal(t, []any{}, res["exception_detail"].([]any)[0].(map[string]any)["loc"])
	require.Equal(t, map[string]any{"enabled": true}, res["request_body"])
}

// requireNotFound checks Prefect's 404 for an automation id: an
// ObjectNotFoundError, so exception_message rather than detail.
func requireNotFound(t *testing.T, r reply) {
	t.Helper()
	requireStatus(t, http.StatusNotFound, r)
	require.JSONEq(t, `{"exception_message":"Automation not found"}`, string(r.Body))
}

func names(t *testing.T, r reply) []string {
	t.Helper()
	requireStatus(t, http.StatusOK, r)
	out := []string{}
	for _, o := range r.List(t) {
		out = append(out, o.(map[string]any)["name"].(string))
	}
	return out
}
