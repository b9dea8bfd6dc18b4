package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

func TestBulkCreateFlowRunsFromDeployment(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "bulk-runnable")
		s.createPool(t, "bp")
		body := servedDeployment(flowID)
		body["tags"] = []string{"dep-tag"}
		body["work_pool_name"] = "bp"
		id := s.do(t, http.MethodPost, "/deployments/", body).Object(t)["id"].(string)
		path := "/deployments/" + id + "/create_flow_run/bulk"

		r := s.do(t, http.MethodPost, path, []any{
			map[string]any{"parameters": map[string]any{"x": 1}, "tags": []string{"one"}, "name": "first"},
			map[string]any{"parameters": map[string]any{"x": "two"}},
			map[string]any{"parameters": map[string]any{"x": 3}, "work_queue_name": "bulk-queue", "state": map[string]any{"type": "PENDING"}},
			map[string]any{"parameters": map[string]any{"x": 4}, "idempotency_key": "bulk-k"},
			map[string]any{"parameters": map[string]any{"x": 4}, "idempotency_key": "bulk-k"},
		})
		requireStatus(t, http.StatusOK, r)
		results := r.Object(t)["results"].([]any)
		require.Len(t, results, 5)
		status := func(i int) string { return results[i].(map[string]any)["status"].(string) }
		runID := func(i int) string { return results[i].(map[string]any)["flow_run_id"].(string) }
		require.Equal(t, []string{"CREATED", "FAILED", "CREATED", "CREATED", "CREATED"},
			[]string{status(0), status(1), status(2), status(3), status(4)})
		failed := results[1].(map[string]any)
		require.Nil(t, failed["flow_run_id"])
		require.Contains(t, failed["error"], "'two' is not of type 'integer'")
		require.Equal(t, runID(3), runID(4), "an idempotency key makes one run")

		first := s.do(t, http.MethodGet, "/flow_runs/"+runID(0), nil).Object(t)
		require.Equal(t, "first", first["name"])
		require.Equal(t, []any{"dep-tag", "one"}, first["tags"])
		require.Equal(t, "SCHEDULED", stateOf(t, first)["type"])
		third := s.do(t, http.MethodGet, "/flow_runs/"+runID(2), nil).Object(t)
		require.Equal(t, "bulk-queue", third["work_queue_name"])
		require.Equal(t, "PENDING", stateOf(t, third)["type"])
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/work_pools/bp/queues/bulk-queue", nil))
		require.EqualValues(t, 3, s.do(t, http.MethodPost, "/flow_runs/count",
			map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []string{id}}}}).JSON(t))

		// An empty list is an empty answer, but only for a deployment that exists.
		r = s.do(t, http.MethodPost, path, []any{})
		requireStatus(t, http.StatusOK, r)
		require.Empty(t, r.Object(t)["results"])
		requireDetail(t, http.StatusNotFound, "Deployment not found",
			s.do(t, http.MethodPost, "/deployments/"+uuid.NewString()+"/create_flow_run/bulk", []any{}))

		// More than 100 at once is refused whole, and a malformed item is a 422 naming it.
		many := make([]any, 101)
		for i := range many {
			many[i] = map[string]any{}
		}
		requireDetail(t, http.StatusBadRequest, "Cannot create more than 100 flow runs at once.", s.do(t, http.MethodPost, path, many))
		requireValidationError(t, s.do(t, http.MethodPost, path, []any{map[string]any{}, map[string]any{"state": map[string]any{"type": "NOPE"}}}),
			"body", "1", "state", "type")
		requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{}), "body")
		require.EqualValues(t, 3, s.do(t, http.MethodPost, "/flow_runs/count",
			map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []string{id}}}}).JSON(t), "nothing half-written")
	})
}

func TestScheduleDeployment(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "backfilled")
		body := servedDeployment(flowID) // one active schedule: every 3 s from 2026-01-01
		body["paused"] = true
		id := s.do(t, http.MethodPost, "/deployments/", body).Object(t)["id"].(string)
		path := "/deployments/" + id + "/schedule"
		scheduled := func() []any {
			return s.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{"sort": "EXPECTED_START_TIME_ASC",
				"deployments": map[string]any{"id": map[string]any{"any_": []string{id}}}}).List(t)
		}

		// A backfill in the past, even of a paused deployment, as Prefect does.
		window := map[string]any{"start_time": "2025-06-01T00:00:00Z", "end_time": "2025-06-01T00:00:30Z", "max_runs": 5}
		r := s.do(t, http.MethodPost, path, window)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "null", strings.TrimSpace(string(r.Body)))
		runs := scheduled()
		require.Len(t, runs, 5)
		for i, want := range []string{"00", "03", "06", "09", "12"} {
			run := runs[i].(map[string]any)
			require.Equal(t, "2025-06-01T00:00:"+want+"Z", run["expected_start_time"])
			require.True(t, run["auto_scheduled"].(bool))
			require.Equal(t, "SCHEDULE", run["created_by"].(map[string]any)["type"])
		}

		// Asking again makes nothing twice; the minimums stop a pass early.
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, path, window))
		require.Len(t, scheduled(), 5)
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, path, map[string]any{"start_time": "2025-06-01T00:00:15Z",
			"end_time": "2025-06-01T00:01:00Z", "min_runs": 2, "min_time": 0}))
		require.Len(t, scheduled(), 7, "two runs, at :15 and :18")

		// A deployment that does not exist schedules nothing, as in Prefect.
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/deployments/"+uuid.NewString()+"/schedule", map[string]any{}))
		requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"max_runs": "many"}), "body", "max_runs")
		requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"start_time": "soon"}), "body", "start_time")
	})
}
