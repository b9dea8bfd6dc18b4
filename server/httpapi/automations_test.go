package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

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
			"trigger": map[string]any{"type": "compound", "require": "any", "triggers": []any{
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
		requireDetail(t, http.StatusNotFound, "Automation not found", s.do(t, http.MethodGet, "/automations/"+owned["id"].(string), nil))
		require.Equal(t, []string{"a-renamed", "b-first"}, names(s.do(t, http.MethodPost, "/automations/filter", map[string]any{})))
		other := create(map[string]any{"name": "d-other", "trigger": reactive, "actions": []any{}, "owner_resource": "prefect.flow.x"})
		requireStatus(t, http.StatusAccepted, s.do(t, http.MethodDelete, "/automations/owned-by/prefect.flow.x", nil))
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/automations/"+other["id"].(string), nil))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/automations/"+first["id"].(string), nil))
		requireDetail(t, http.StatusNotFound, "Automation not found", s.do(t, http.MethodDelete, "/automations/"+first["id"].(string), nil))
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/automations/not-a-uuid", nil))

		// Bad input: pydantic's 422s, nothing stored.
		bad := func(body map[string]any, loc ...string) {
			t.Helper()
			requireValidationError(t, s.do(t, http.MethodPost, "/automations/", body), loc...)
		}
		bad(map[string]any{"trigger": reactive, "actions": []any{}}, "body", "name")
		bad(map[string]any{"name": "x", "trigger": map[string]any{"type": "metric"}, "actions": []any{}}, "body", "trigger")
		bad(map[string]any{"name": "x", "trigger": map[string]any{"type": "event"}, "actions": []any{}}, "body", "trigger", "event", "posture")
		bad(map[string]any{"name": "x", "trigger": map[string]any{"type": "event", "posture": "Proactive", "within": 5}, "actions": []any{}}, "body", "trigger", "event")
		bad(map[string]any{"name": "x", "trigger": reactive, "actions": []any{map[string]any{"type": "explode"}}}, "body", "actions", "0")
		bad(map[string]any{"name": "x", "trigger": reactive, "actions": []any{map[string]any{"type": "run-deployment"}}}, "body", "actions", "0", "run-deployment")
		bad(map[string]any{"name": "x", "trigger": reactive, "actions": []any{}, "surprise": 1}, "body", "surprise")
		requireValidationError(t, s.do(t, http.MethodPost, "/automations/filter", map[string]any{"sort": "SIDEWAYS"}), "body", "sort")
		require.Equal(t, []string{"a-renamed"}, names(s.do(t, http.MethodPost, "/automations/filter", map[string]any{})))
	})
}
