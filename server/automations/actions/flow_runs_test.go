package actions_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

func TestSuspendResumeAndDeleteFlowRun(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		flow := f.do(http.MethodPost, "/flows/", map[string]any{"name": "suspended"})
		dep := f.do(http.MethodPost, "/deployments/", map[string]any{"flow_id": flow["id"], "name": "d"})
		run := f.do(http.MethodPost, "/deployments/"+dep["id"].(string)+"/create_flow_run", map[string]any{})
		id := run["id"].(string)
		f.do(http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": "PENDING"}})
		f.do(http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": "RUNNING"}})

		// A proactive trigger's firing names the run in its labels, with no
		// event at all.
		suspend := triggered(action(t, `{"type":"suspend-flow-run"}`), nil)
		suspend.TriggeringLabels = map[string]string{"prefect.resource.id": "prefect.flow-run." + id}
		before := time.Now()
		f.actor.Act(ctx, suspend)
		name, payload, e := f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		require.EqualValues(t, 201, payload["status_code"])
		require.Contains(t, e.Related, schema.Resource{"prefect.resource.id": "prefect.flow-run." + id, "prefect.resource.role": "target"})
		got := f.do(http.MethodGet, "/flow_runs/"+id, nil)
		state := got["state"].(map[string]any)
		require.Equal(t, "PAUSED", state["type"])
		require.Equal(t, "Suspended", state["name"])
		require.Equal(t, "Suspended by Automation "+suspend.Automation.ID.String(), state["message"])
		details := state["state_details"].(map[string]any)
		require.Equal(t, true, details["pause_reschedule"])
		timeout, err := time.Parse(time.RFC3339Nano, details["pause_timeout"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, before.Add(time.Hour), timeout, time.Minute, "suspended for an hour")

		// Resumed: a suspended run is rescheduled.
		ev := eventAbout("prefect.flow-run.Suspended", schema.Resource{"prefect.resource.id": "prefect.flow-run." + id})
		f.actor.Act(ctx, triggered(action(t, `{"type":"resume-flow-run"}`), ev))
		name, payload, _ = f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		got = f.do(http.MethodGet, "/flow_runs/"+id, nil)
		require.Equal(t, "SCHEDULED", got["state_type"])
		require.Equal(t, "Resuming", got["state_name"])

		// A run that is not paused cannot be resumed: the rules' reason.
		f.actor.Act(ctx, triggered(action(t, `{"type":"resume-flow-run"}`), ev))
		name, payload, _ = f.sink.last(t)
		require.Equal(t, "prefect.automation.action.failed", name)
		require.Equal(t, "Failed to resume flow run: Cannot resume a flow run that is not paused.", payload["reason"])

		// Deleted, then gone: the second delete meets the API's 404.
		f.actor.Act(ctx, triggered(action(t, `{"type":"delete-flow-run"}`), ev))
		name, payload, _ = f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		require.EqualValues(t, 204, payload["status_code"])
		rec := httptest.NewRecorder()
		f.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/flow_runs/"+id, bytes.NewReader(nil)))
		require.Equal(t, http.StatusNotFound, rec.Code)
		f.actor.Act(ctx, triggered(action(t, `{"type":"delete-flow-run"}`), ev))
		_, payload, _ = f.sink.last(t)
		require.Equal(t, "Unexpected status from 'delete-flow-run' action: 404", payload["reason"])
		require.EqualValues(t, 404, payload["status_code"])
	})
}

func TestResumeWorkPoolAndAutomation(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		pool := f.do(http.MethodPost, "/work_pools/", map[string]any{"name": "paused pool", "type": "process", "is_paused": true})
		auto := f.do(http.MethodPost, "/automations/", map[string]any{"name": "off", "enabled": false,
			"trigger": map[string]any{"posture": "Reactive"}, "actions": []any{map[string]any{"type": "do-nothing"}}})
		ev := eventAbout("x", schema.Resource{"prefect.resource.id": "prefect.automation." + auto["id"].(string)},
			schema.Resource{"prefect.resource.id": "prefect.work-pool." + pool["id"].(string), "prefect.resource.role": "work-pool"})

		f.actor.Act(ctx, triggered(action(t, `{"type":"resume-work-pool","source":"inferred"}`), ev))
		name, payload, e := f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		require.EqualValues(t, 204, payload["status_code"])
		require.Contains(t, e.Related, schema.Resource{"prefect.resource.id": "prefect.work-pool." + pool["id"].(string),
			"prefect.resource.name": "paused pool", "prefect.resource.role": "target"})
		require.Equal(t, false, f.do(http.MethodGet, "/work_pools/paused%20pool", nil)["is_paused"])

		f.actor.Act(ctx, triggered(action(t, `{"type":"resume-automation","source":"inferred"}`), ev))
		name, payload, _ = f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		require.Equal(t, true, f.do(http.MethodGet, "/automations/"+auto["id"].(string), nil)["enabled"])

		// A pool that is not there.
		f.actor.Act(ctx, triggered(action(t, `{"type":"pause-work-pool","source":"selected","work_pool_id":"`+
			strings.Repeat("0", 8)+`-0000-0000-0000-000000000000"}`), ev))
		_, payload, _ = f.sink.last(t)
		require.Equal(t, "Work pool 00000000-0000-0000-0000-000000000000 not found", payload["reason"])
		f.actor.Act(ctx, triggered(action(t, `{"type":"pause-work-queue","source":"inferred"}`), ev))
		_, payload, _ = f.sink.last(t)
		require.Equal(t, "No work queue could be inferred", payload["reason"])
	})
}

func TestRunDeploymentRefusedOrCreatedByTheAutomation(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		flow := f.do(http.MethodPost, "/flows/", map[string]any{"name": "strict"})
		dep := f.do(http.MethodPost, "/deployments/", map[string]any{"flow_id": flow["id"], "name": "d", "enforce_parameter_schema": true,
			"parameter_openapi_schema": map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "integer"}}}})
		sel := `"source":"selected","deployment_id":"` + dep["id"].(string) + `"`

		// The schema refuses the parameters: 409, its detail in the payload.
		f.actor.Act(ctx, triggered(action(t, `{"type":"run-deployment",`+sel+`,"parameters":{"x":"not a number"}}`), nil))
		name, payload, _ := f.sink.last(t)
		require.Equal(t, "prefect.automation.action.failed", name)
		require.EqualValues(t, 409, payload["status_code"])
		detail, _ := payload["validation_error"].(string)
		require.True(t, strings.HasPrefix(detail, "Error creating flow run: "), payload)
		require.Equal(t, "Validation error occurred for 'run-deployment' - "+detail, payload["reason"])

		// Accepted: the run names the automation that made it.
		ta := triggered(action(t, `{"type":"run-deployment",`+sel+`,"parameters":{"x":3}}`), nil)
		ta.Automation.Name = "nightly résumé"
		f.actor.Act(ctx, ta)
		name, payload, e := f.sink.last(t)
		require.Equal(t, "prefect.automation.action.executed", name, payload)
		require.EqualValues(t, 201, payload["status_code"])
		var runID string
		for _, r := range e.Related {
			if r.Role() == "flow-run" {
				runID = strings.TrimPrefix(r.ID(), "prefect.flow-run.")
				require.NotEmpty(t, r["prefect.resource.name"])
			}
		}
		run := f.do(http.MethodGet, "/flow_runs/"+runID, nil)
		require.Equal(t, map[string]any{"id": ta.Automation.ID.String(), "type": "AUTOMATION", "display_value": "nightly résumé"}, run["created_by"])
		require.Equal(t, "automation "+ta.Automation.ID.String()+", action 0, invocation "+ta.ID.String(), run["idempotency_key"])
	})
}
