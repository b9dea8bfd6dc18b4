package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// servedDeployment is the body flow.serve() sends (RunnerDeployment.aapply)
// for a flow with one int parameter and a 3-second interval schedule.
func servedDeployment(flowID string) map[string]any {
	return map[string]any{
		"flow_id": flowID, "name": "served", "version": "abc123", "parameters": map[string]any{}, "tags": []any{},
		"work_queue_name": nil, "description": "A served flow.", "storage_document_id": nil, "path": ".",
		"entrypoint": "flows.py:my_flow", "infrastructure_document_id": nil, "job_variables": map[string]any{},
		"parameter_openapi_schema": map[string]any{"title": "Parameters", "type": "object",
			"properties": map[string]any{"x": map[string]any{"title": "x", "position": 0, "type": "integer"}}, "required": []any{"x"}},
		"paused": false, "schedules": []any{map[string]any{"schedule": map[string]any{"interval": 3.0, "anchor_date": "2026-01-01T00:00:00Z", "timezone": "UTC"},
			"active": true, "max_scheduled_runs": nil, "parameters": map[string]any{}, "slug": nil}},
		"concurrency_limit": nil, "concurrency_options": nil, "enforce_parameter_schema": true,
	}
}

func TestDeploymentUpsertAndRead(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "my-flow")

		requireDetail(t, http.StatusNotFound, "Deployment not found", s.do(t, http.MethodGet, "/deployments/name/my-flow/served", nil))

		r := s.do(t, http.MethodPost, "/deployments/", servedDeployment(flowID))
		requireStatus(t, http.StatusCreated, r)
		d := r.Object(t)
		for _, k := range []string{"id", "created", "updated", "name", "version", "description", "flow_id", "paused", "schedules",
			"concurrency_limit", "global_concurrency_limit", "concurrency_options", "job_variables", "parameters", "tags", "labels",
			"work_queue_name", "work_queue_id", "last_polled", "parameter_openapi_schema", "path", "pull_steps", "entrypoint",
			"storage_document_id", "infrastructure_document_id", "created_by", "updated_by", "work_pool_name", "status",
			"enforce_parameter_schema"} {
			require.Contains(t, d, k)
		}
		require.Equal(t, "NOT_READY", d["status"])
		require.Nil(t, d["work_pool_name"])
		require.Nil(t, d["global_concurrency_limit"])
		require.Equal(t, map[string]any{"prefect.flow.id": flowID}, d["labels"])
		schedules := d["schedules"].([]any)
		require.Len(t, schedules, 1)
		sc := schedules[0].(map[string]any)
		require.Equal(t, map[string]any{"interval": 3.0, "anchor_date": "2026-01-01T00:00:00Z", "timezone": "UTC"}, sc["schedule"])
		require.Equal(t, true, sc["active"])
		require.Equal(t, d["id"], sc["deployment_id"])

		byName := s.do(t, http.MethodGet, "/deployments/name/my-flow/served", nil)
		requireStatus(t, http.StatusOK, byName)
		require.Equal(t, d["id"], byName.Object(t)["id"])
		byID := s.do(t, http.MethodGet, "/deployments/"+d["id"].(string), nil)
		requireStatus(t, http.StatusOK, byID)
		require.Equal(t, "served", byID.Object(t)["name"])
		requireDetail(t, http.StatusNotFound, "Deployment not found", s.do(t, http.MethodGet, "/deployments/"+uuid.NewString(), nil))

		// The same flow and name again: 200, the same deployment updated.
		again := servedDeployment(flowID)
		again["version"] = "def456"
		r = s.do(t, http.MethodPost, "/deployments", again)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, d["id"], r.Object(t)["id"])
		require.Equal(t, "def456", r.Object(t)["version"])

		requireDetail(t, http.StatusNotFound, `Work pool "nope" not found.`,
			s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "x", "flow_id": flowID, "work_pool_name": "nope"}))
		requireStatus(t, http.StatusConflict, s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "x", "flow_id": uuid.NewString()}))
		requireStatus(t, http.StatusConflict, s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "x", "flow_id": flowID,
			"storage_document_id": uuid.NewString()}))

		// Bad input: 422 in Prefect's shape.
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/", map[string]any{"flow_id": flowID}), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "x"}), "body", "flow_id")
		bad := func(schedule any) reply {
			return s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "x", "flow_id": flowID, "schedules": []any{map[string]any{"schedule": schedule}}})
		}
		requireValidationError(t, bad(map[string]any{"interval": -5}), "body", "schedules", "0", "schedule", "interval")
		requireValidationError(t, bad(map[string]any{"interval": 60, "timezone": "Mars/Olympus"}), "body", "schedules", "0", "schedule", "timezone")
		requireValidationError(t, bad(map[string]any{"cron": "not a cron"}), "body", "schedules", "0", "schedule", "cron")
		requireValidationError(t, bad(map[string]any{"cron": "H * * * *"}), "body", "schedules", "0", "schedule", "cron")
		requireValidationError(t, bad(map[string]any{"rrule": "nonsense"}), "body", "schedules", "0", "schedule", "rrule")
		requireValidationError(t, bad(map[string]any{"cron": "61 * * * *"}), "body", "schedules", "0", "schedule", "cron")
		requireValidationError(t, bad(map[string]any{"rrule": "FREQ=SOMETIMES"}), "body", "schedules", "0", "schedule", "rrule")
		requireValidationError(t, bad(map[string]any{"bogus": 1}), "body", "schedules", "0", "schedule")
		requireValidationError(t, bad("daily"), "body", "schedules", "0", "schedule")
		requireValidationError(t, bad(nil), "body", "schedules", "0", "schedule")
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "x", "flow_id": flowID,
			"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 60}, "max_scheduled_runs": 5000}}}),
			"body", "schedules", "0", "max_scheduled_runs")
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "x", "flow_id": flowID,
			"concurrency_options": map[string]any{"collision_strategy": "WHATEVER"}}), "body", "concurrency_options", "collision_strategy")
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/", `{"name": "x", "flow_id": "`+flowID+`", "tags": "nope"}`), "body", "tags")
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/", `{"name": "x"`))
	})
}

func TestDeploymentMaxScheduledRunsSetting(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(st *settings.Settings) { st.Deployments.MaxScheduledRuns = 10 })
		flowID := s.createFlow(t, "limited")
		body := map[string]any{"name": "x", "flow_id": flowID,
			"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 60}, "max_scheduled_runs": 11}}}
		r := s.do(t, http.MethodPost, "/deployments/", body)
		details := requireValidationError(t, r, "body", "schedules", "0", "max_scheduled_runs")["exception_detail"].([]any)
		require.Equal(t, "Value error, `max_scheduled_runs` must be less than or equal to 10.", details[0].(map[string]any)["msg"])
		body["schedules"].([]any)[0].(map[string]any)["max_scheduled_runs"] = 10
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/deployments/", body))
	})
}

func TestDeploymentUpdatePauseDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "patched")
		d := s.do(t, http.MethodPost, "/deployments/", servedDeployment(flowID)).Object(t)
		id := d["id"].(string)

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"paused": true,
			"job_variables": map[string]any{"image": "a"}}))
		got := s.do(t, http.MethodGet, "/deployments/"+id, nil).Object(t)
		require.Equal(t, true, got["paused"])
		require.Equal(t, map[string]any{"image": "a"}, got["job_variables"])
		require.Len(t, got["schedules"], 1, "a PATCH without schedules keeps them")
		// null leaves the job variables; an empty object clears them, as in Prefect.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"job_variables": nil}))
		require.Equal(t, map[string]any{"image": "a"}, s.do(t, http.MethodGet, "/deployments/"+id, nil).Object(t)["job_variables"])
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"job_variables": map[string]any{}}))
		require.Equal(t, map[string]any{}, s.do(t, http.MethodGet, "/deployments/"+id, nil).Object(t)["job_variables"])

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{
			"schedules":   []any{map[string]any{"schedule": map[string]any{"cron": "0 * * * *", "timezone": "America/New_York"}}},
			"description": "changed"}))
		got = s.do(t, http.MethodGet, "/deployments/"+id, nil).Object(t)
		require.Equal(t, "changed", got["description"])
		scheds := got["schedules"].([]any)
		require.Len(t, scheds, 1)
		require.Equal(t, map[string]any{"cron": "0 * * * *", "timezone": "America/New_York", "day_or": true}, scheds[0].(map[string]any)["schedule"])

		requireDetail(t, http.StatusNotFound, "Deployment not found.", s.do(t, http.MethodPatch, "/deployments/"+uuid.NewString(), map[string]any{}))
		requireValidationError(t, s.do(t, http.MethodPatch, "/deployments/not-a-uuid", map[string]any{}), "path", "id")
		// Parameters that break the enforced schema: 409.
		requireDetail(t, http.StatusConflict, "Error updating deployment: Validation failed for field 'x'. Failure reason: 'a' is not of type 'integer'",
			s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"parameters": map[string]any{"x": "a"}}))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"parameters": map[string]any{"x": 1}}))

		r := s.do(t, http.MethodPost, "/deployments/"+id+"/resume_deployment", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "null", string(trimNewline(r.Body)))
		require.Equal(t, false, s.do(t, http.MethodGet, "/deployments/"+id, nil).Object(t)["paused"])
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/deployments/"+id+"/pause_deployment", nil))
		require.Equal(t, true, s.do(t, http.MethodGet, "/deployments/"+id, nil).Object(t)["paused"])
		requireDetail(t, http.StatusNotFound, "Deployment not found", s.do(t, http.MethodPost, "/deployments/"+uuid.NewString()+"/pause_deployment", nil))

		// Deleting a deployment deletes its scheduled runs.
		run := s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": 2}})
		requireStatus(t, http.StatusCreated, run)
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/deployments/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Deployment not found", s.do(t, http.MethodDelete, "/deployments/"+id, nil))
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodGet, "/flow_runs/"+run.Object(t)["id"].(string), nil))
	})
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func TestDeploymentFilterCountPaginate(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "many")
		for _, name := range []string{"a", "b", "c"} {
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": name, "flow_id": flowID, "tags": []string{"t-" + name}}))
		}
		r := s.do(t, http.MethodPost, "/deployments/filter", map[string]any{"sort": "NAME_DESC", "limit": 2})
		requireStatus(t, http.StatusOK, r)
		list := r.List(t)
		require.Len(t, list, 2)
		require.Equal(t, "c", list[0].(map[string]any)["name"])
		r = s.do(t, http.MethodPost, "/deployments/filter", map[string]any{"deployments": map[string]any{"tags": map[string]any{"any_": []string{"t-b"}}}})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/filter", map[string]any{"sort": "SIDEWAYS"}), "body", "sort")

		c := s.do(t, http.MethodPost, "/deployments/count", map[string]any{"flows": map[string]any{"name": map[string]any{"any_": []string{"many"}}}})
		requireStatus(t, http.StatusOK, c)
		require.Equal(t, float64(3), c.JSON(t))

		p := s.do(t, http.MethodPost, "/deployments/paginate", map[string]any{"page": 2, "limit": 2})
		requireStatus(t, http.StatusOK, p)
		page := p.Object(t)
		require.EqualValues(t, 3, page["count"])
		require.EqualValues(t, 2, page["limit"])
		require.EqualValues(t, 2, page["pages"])
		require.EqualValues(t, 2, page["page"])
		require.Len(t, page["results"], 1)
		require.Equal(t, "c", page["results"].([]any)[0].(map[string]any)["name"])
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/paginate", map[string]any{"page": 0}), "body", "page")
	})
}

func TestCreateFlowRunFromDeployment(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "runnable")
		s.createPool(t, "rp")
		body := servedDeployment(flowID)
		body["parameters"] = map[string]any{"x": 1, "y": "keep"}
		body["tags"] = []string{"dep-tag"}
		body["work_pool_name"] = "rp"
		body["parameter_openapi_schema"].(map[string]any)["properties"].(map[string]any)["y"] = map[string]any{"type": "string"}
		d := s.do(t, http.MethodPost, "/deployments/", body).Object(t)
		id := d["id"].(string)

		r := s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": 5},
			"tags": []string{"run-tag", "dep-tag"}, "job_variables": map[string]any{"env": map[string]any{"A": "1"}}, "name": "my-run"})
		requireStatus(t, http.StatusCreated, r)
		run := r.Object(t)
		require.Equal(t, "my-run", run["name"])
		require.Equal(t, map[string]any{"x": 5.0, "y": "keep"}, run["parameters"])
		require.Equal(t, []any{"dep-tag", "run-tag"}, run["tags"])
		require.Equal(t, id, run["deployment_id"])
		require.Equal(t, "abc123", run["deployment_version"])
		require.Equal(t, "default", run["work_queue_name"])
		require.Equal(t, "rp", run["work_pool_name"])
		require.Equal(t, map[string]any{"env": map[string]any{"A": "1"}}, run["job_variables"])
		require.Equal(t, map[string]any{"prefect.flow.id": flowID, "prefect.deployment.id": id}, run["labels"])
		st := stateOf(t, run)
		require.Equal(t, "SCHEDULED", st["type"])
		require.Equal(t, "Scheduled", st["name"])
		require.NotNil(t, st["state_details"].(map[string]any)["scheduled_time"])
		require.NotNil(t, run["next_scheduled_start_time"])

		// Enforced schema: a wrong type or a missing required parameter is 409.
		requireDetail(t, http.StatusConflict, "Error creating flow run: Validation failed for field 'x'. Failure reason: 'five' is not of type 'integer'",
			s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": "five"}}))
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run",
			map[string]any{"parameters": map[string]any{"x": "five"}, "enforce_parameter_schema": false}))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"parameters": map[string]any{}}))
		requireDetail(t, http.StatusConflict, "Error creating flow run: Validation failed. Failure reason: 'x' is a required property",
			s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{}))

		// A queue named for the run is created in the deployment's pool.
		r = s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": 1}, "work_queue_name": "adhoc"})
		requireStatus(t, http.StatusCreated, r)
		require.Equal(t, "adhoc", r.Object(t)["work_queue_name"])
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/work_pools/rp/queues/adhoc", nil))

		// UI placeholders are resolved.
		r = s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{
			"x": map[string]any{"__prefect_kind": "json", "value": "7"}}})
		requireStatus(t, http.StatusCreated, r)
		require.Equal(t, 7.0, r.Object(t)["parameters"].(map[string]any)["x"])
		// A jinja value is rendered, with an empty context, as Prefect's route renders it.
		r = s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{
			"x": map[string]any{"__prefect_kind": "json", "value": map[string]any{"__prefect_kind": "jinja", "template": "{{ 1 + 2 }}"}}}})
		requireStatus(t, http.StatusCreated, r)
		require.Equal(t, 3.0, r.Object(t)["parameters"].(map[string]any)["x"])
		requireDetail(t, http.StatusBadRequest, "Error hydrating flow run parameters: Variable 'nope' not found in workspace.",
			s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{
				"x": map[string]any{"__prefect_kind": "workspace_variable", "variable_name": "nope"}}}))

		// An idempotency key returns the same run with 200.
		first := s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": 1}, "idempotency_key": "k"})
		requireStatus(t, http.StatusCreated, first)
		second := s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": 1}, "idempotency_key": "k"})
		requireStatus(t, http.StatusOK, second)
		require.Equal(t, first.Object(t)["id"], second.Object(t)["id"])

		requireDetail(t, http.StatusNotFound, "Deployment not found", s.do(t, http.MethodPost, "/deployments/"+uuid.NewString()+"/create_flow_run", map[string]any{}))
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"state": map[string]any{"type": "NOPE"}}))
	})
}

// TestRunnerPolling follows flow.serve(): the runner polls its deployments
// for runs due soon.
func TestRunnerPolling(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "served-flow")
		d := s.do(t, http.MethodPost, "/deployments/", servedDeployment(flowID)).Object(t)
		id := d["id"].(string)
		due := s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": 1}}).Object(t)
		later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
		s.do(t, http.MethodPost, "/deployments/"+id+"/create_flow_run", map[string]any{"parameters": map[string]any{"x": 1},
			"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"scheduled_time": later}}})

		before := time.Now().Add(10 * time.Second).UTC().Format(time.RFC3339Nano)
		r := s.do(t, http.MethodPost, "/deployments/get_scheduled_flow_runs", map[string]any{"deployment_ids": []string{id}, "scheduled_before": before})
		requireStatus(t, http.StatusOK, r)
		runs := r.List(t)
		require.Len(t, runs, 1)
		require.Equal(t, due["id"], runs[0].(map[string]any)["id"])
		got := s.do(t, http.MethodGet, "/deployments/"+id, nil).Object(t)
		require.Equal(t, "READY", got["status"])
		require.NotNil(t, got["last_polled"])
		require.Equal(t, d["updated"], got["updated"], "a poll leaves updated alone")

		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/get_scheduled_flow_runs", map[string]any{}), "body", "deployment_ids")
		requireStatus(t, http.StatusUnprocessableEntity, s.do(t, http.MethodPost, "/deployments/get_scheduled_flow_runs",
			map[string]any{"deployment_ids": []string{id}, "limit": 1000}))
	})
}

func TestDeploymentScheduleRoutes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "scheduled")
		d := s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "d", "flow_id": flowID}).Object(t)
		id := d["id"].(string)

		r := s.do(t, http.MethodPost, "/deployments/"+id+"/schedules", []any{
			map[string]any{"schedule": map[string]any{"interval": 60}, "slug": "every-minute"},
			map[string]any{"schedule": map[string]any{"rrule": "FREQ=HOURLY"}, "active": false},
		})
		requireStatus(t, http.StatusCreated, r)
		created := r.List(t)
		require.Len(t, created, 2)
		first := created[0].(map[string]any)
		require.Equal(t, "every-minute", first["slug"])
		require.Equal(t, 60.0, first["schedule"].(map[string]any)["interval"])
		require.Equal(t, "UTC", first["schedule"].(map[string]any)["timezone"])
		require.NotEmpty(t, first["schedule"].(map[string]any)["anchor_date"])

		requireDetail(t, http.StatusConflict, "Schedule slugs must be unique within a deployment.",
			s.do(t, http.MethodPost, "/deployments/"+id+"/schedules", []any{map[string]any{"schedule": map[string]any{"interval": 5}, "slug": "every-minute"}}))
		requireDetail(t, http.StatusNotFound, "Deployment not found.",
			s.do(t, http.MethodPost, "/deployments/"+uuid.NewString()+"/schedules", []any{map[string]any{"schedule": map[string]any{"interval": 5}}}))
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/"+id+"/schedules", []any{map[string]any{"schedule": map[string]any{"interval": 0}}}),
			"body", "0", "schedule", "interval")
		requireValidationError(t, s.do(t, http.MethodPost, "/deployments/"+id+"/schedules", map[string]any{}))

		list := s.do(t, http.MethodGet, "/deployments/"+id+"/schedules", nil)
		requireStatus(t, http.StatusOK, list)
		require.Len(t, list.List(t), 2)
		requireDetail(t, http.StatusNotFound, "Deployment not found.", s.do(t, http.MethodGet, "/deployments/"+uuid.NewString()+"/schedules", nil))

		schedID := first["id"].(string)
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id+"/schedules/"+schedID,
			map[string]any{"active": false, "schedule": map[string]any{"cron": "*/5 * * * *"}}))
		got := s.do(t, http.MethodGet, "/deployments/"+id+"/schedules", nil).List(t)[0].(map[string]any)
		require.Equal(t, schedID, got["id"])
		require.Equal(t, false, got["active"])
		require.Equal(t, "*/5 * * * *", got["schedule"].(map[string]any)["cron"])
		requireDetail(t, http.StatusNotFound, "Schedule not found.", s.do(t, http.MethodPatch, "/deployments/"+id+"/schedules/"+uuid.NewString(), map[string]any{}))
		requireValidationError(t, s.do(t, http.MethodPatch, "/deployments/"+id+"/schedules/"+schedID, map[string]any{"max_scheduled_runs": 100000}),
			"body", "max_scheduled_runs")

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/deployments/"+id+"/schedules/"+schedID, nil))
		requireDetail(t, http.StatusNotFound, "Schedule not found.", s.do(t, http.MethodDelete, "/deployments/"+id+"/schedules/"+schedID, nil))
		require.Len(t, s.do(t, http.MethodGet, "/deployments/"+id+"/schedules", nil).List(t), 1)

		// Once every schedule has a slug, a PATCH must name them.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{
			"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 10}, "slug": "ten"}}}))
		requireDetail(t, http.StatusUnprocessableEntity, "Please provide a slug for each schedule in your request to ensure schedules are updated correctly.",
			s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 10}}}}))
		requireDetail(t, http.StatusUnprocessableEntity, "Unable to create new deployment schedules without a schedule configuration.",
			s.do(t, http.MethodPatch, "/deployments/"+id, map[string]any{"schedules": []any{map[string]any{"slug": "new", "active": false}}}))
	})
}
