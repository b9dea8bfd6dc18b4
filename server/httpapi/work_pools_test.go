package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// processTemplate is a base job template as the process worker sends it (cut down).
var processTemplate = map[string]any{
	"job_configuration": map[string]any{"command": "{{ command }}", "env": "{{ env }}"},
	"variables": map[string]any{"type": "object", "properties": map[string]any{
		"command": map[string]any{"type": "string"}, "env": map[string]any{"type": "object"}}},
}

func (s *testServer) createPool(t *testing.T, name string, extra ...map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"name": name, "type": "process"}
	for _, e := range extra {
		for k, v := range e {
			body[k] = v
		}
	}
	r := s.do(t, http.MethodPost, "/work_pools/", body)
	requireStatus(t, http.StatusCreated, r)
	return r.Object(t)
}

func TestWorkPoolRoutes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)

		pool := s.createPool(t, "my-pool", map[string]any{"base_job_template": processTemplate, "concurrency_limit": 4})
		require.Equal(t, "my-pool", pool["name"])
		require.Equal(t, "process", pool["type"])
		require.Equal(t, "NOT_READY", pool["status"])
		require.Equal(t, false, pool["is_paused"])
		require.EqualValues(t, 4, pool["concurrency_limit"])
		require.EqualValues(t, 0, pool["active_slots"])
		require.NotEmpty(t, pool["default_queue_id"])
		require.Equal(t, map[string]any{"bundle_upload_step": nil, "bundle_execution_step": nil, "default_result_storage_block_id": nil},
			pool["storage_configuration"])
		for _, k := range []string{"id", "created", "updated", "description", "base_job_template"} {
			require.Contains(t, pool, k)
		}

		requireDetail(t, http.StatusConflict, "A work pool with this name already exists.",
			s.do(t, http.MethodPost, "/work_pools/", map[string]any{"name": "my-pool", "type": "process"}))
		requireDetail(t, http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use.",
			s.do(t, http.MethodPost, "/work_pools/", map[string]any{"name": "Prefect-managed", "type": "process"}))
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/", map[string]any{"name": "bad", "type": "process",
			"base_job_template": map[string]any{"job_configuration": map[string]any{"x": "{{ nope }}"}, "variables": map[string]any{"properties": map[string]any{}}}}),
			"body", "base_job_template")
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/", map[string]any{"name": "neg", "concurrency_limit": -1}),
			"body", "concurrency_limit")
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/", map[string]any{"type": "process"}), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/", map[string]any{"name": "a/b"}), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/", `{"name": 5}`), "body", "name")

		r := s.do(t, http.MethodGet, "/work_pools/my-pool", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, pool["id"], r.Object(t)["id"])
		requireDetail(t, http.StatusNotFound, `Work pool "nope" not found.`, s.do(t, http.MethodGet, "/work_pools/nope", nil))

		// Clients up to 3.3.7 do not get default_result_storage_block_id.
		r = s.do(t, http.MethodGet, "/work_pools/my-pool", nil, "User-Agent", "prefect/3.3.7 (API 0.8.4)")
		require.Equal(t, map[string]any{"bundle_upload_step": nil, "bundle_execution_step": nil}, r.Object(t)["storage_configuration"])

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/work_pools/my-pool", map[string]any{"is_paused": true, "description": "d"}))
		got := s.do(t, http.MethodGet, "/work_pools/my-pool/", nil).Object(t)
		require.Equal(t, "PAUSED", got["status"])
		require.Equal(t, "d", got["description"])
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/work_pools/my-pool", map[string]any{"concurrency_limit": nil}))
		got = s.do(t, http.MethodGet, "/work_pools/my-pool", nil).Object(t)
		require.Nil(t, got["concurrency_limit"])
		require.Nil(t, got["active_slots"])
		requireDetail(t, http.StatusNotFound, `Work pool "nope" not found.`, s.do(t, http.MethodPatch, "/work_pools/nope", map[string]any{}))
		requireValidationError(t, s.do(t, http.MethodPatch, "/work_pools/my-pool", map[string]any{"concurrency_limit": "x"}))

		s.createPool(t, "other", map[string]any{"type": "docker"})
		list := s.do(t, http.MethodPost, "/work_pools/filter", map[string]any{"work_pools": map[string]any{"type": map[string]any{"any_": []string{"docker"}}}})
		requireStatus(t, http.StatusOK, list)
		require.Len(t, list.List(t), 1)
		require.Equal(t, "other", list.List(t)[0].(map[string]any)["name"])
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/work_pools/filter", nil))
		requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
			s.do(t, http.MethodPost, "/work_pools/filter", map[string]any{"limit": 201}))
		count := s.do(t, http.MethodPost, "/work_pools/count", nil)
		requireStatus(t, http.StatusOK, count)
		require.Equal(t, float64(2), count.JSON(t))

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/work_pools/other", nil))
		requireDetail(t, http.StatusNotFound, `Work pool "other" not found.`, s.do(t, http.MethodDelete, "/work_pools/other", nil))
		requireStatus(t, http.StatusForbidden, s.do(t, http.MethodDelete, "/work_pools/prefect-x", nil))
	})
}

func TestWorkQueueRoutes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		pool := s.createPool(t, "qpool")

		r := s.do(t, http.MethodPost, "/work_pools/qpool/queues/", map[string]any{"name": "fast", "priority": 1, "concurrency_limit": 2})
		requireStatus(t, http.StatusCreated, r)
		q := r.Object(t)
		require.Equal(t, "fast", q["name"])
		require.EqualValues(t, 1, q["priority"])
		require.Equal(t, "qpool", q["work_pool_name"])
		require.Equal(t, pool["id"], q["work_pool_id"])
		require.Equal(t, "NOT_READY", q["status"])
		require.EqualValues(t, 0, q["active_slots"])
		requireStatus(t, http.StatusConflict, s.do(t, http.MethodPost, "/work_pools/qpool/queues", map[string]any{"name": "fast"}))
		requireDetail(t, http.StatusNotFound, `Work pool "nope" not found.`, s.do(t, http.MethodPost, "/work_pools/nope/queues", map[string]any{"name": "x"}))
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/qpool/queues", map[string]any{"name": "x", "priority": 0}), "body", "priority")

		def := s.do(t, http.MethodGet, "/work_pools/qpool/queues/default", nil)
		requireStatus(t, http.StatusOK, def)
		require.EqualValues(t, 2, def.Object(t)["priority"], "the new queue took priority 1")
		require.Equal(t, pool["default_queue_id"], def.Object(t)["id"])
		requireDetail(t, http.StatusNotFound, "Work pool queue 'qpool/nope' not found.", s.do(t, http.MethodGet, "/work_pools/qpool/queues/nope", nil))

		byID := s.do(t, http.MethodGet, "/work_queues/"+q["id"].(string), nil)
		requireStatus(t, http.StatusOK, byID)
		require.Equal(t, "fast", byID.Object(t)["name"])
		requireDetail(t, http.StatusNotFound, "work queue not found", s.do(t, http.MethodGet, "/work_queues/00000000-0000-0000-0000-000000000000", nil))
		requireValidationError(t, s.do(t, http.MethodGet, "/work_queues/not-a-uuid", nil), "path", "id")

		list := s.do(t, http.MethodPost, "/work_pools/qpool/queues/filter", nil)
		requireStatus(t, http.StatusOK, list)
		require.Len(t, list.List(t), 2)
		require.Equal(t, "fast", list.List(t)[0].(map[string]any)["name"])

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/work_pools/qpool/queues/fast", map[string]any{"is_paused": true, "description": "x"}))
		got := s.do(t, http.MethodGet, "/work_pools/qpool/queues/fast", nil).Object(t)
		require.Equal(t, "PAUSED", got["status"])
		require.Equal(t, true, got["is_paused"])

		requireDetail(t, http.StatusConflict, "Can't delete a pool's default queue.", s.do(t, http.MethodDelete, "/work_pools/qpool/queues/default", nil))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/work_pools/qpool/queues/fast", nil))
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodDelete, "/work_pools/qpool/queues/fast", nil))

		// The legacy routes: a queue without a pool goes to the default agent pool.
		legacy := s.do(t, http.MethodPost, "/work_queues/", map[string]any{"name": "old-school"})
		requireStatus(t, http.StatusCreated, legacy)
		require.Equal(t, "default-agent-pool", legacy.Object(t)["work_pool_name"])
		byName := s.do(t, http.MethodGet, "/work_queues/name/old-school", nil)
		requireStatus(t, http.StatusOK, byName)
		require.Equal(t, legacy.Object(t)["id"], byName.Object(t)["id"])
		all := s.do(t, http.MethodPost, "/work_queues/filter", map[string]any{"work_queues": map[string]any{"name": map[string]any{"any_": []string{"old-school"}}}})
		requireStatus(t, http.StatusOK, all)
		require.Len(t, all.List(t), 1)
		agentPool := s.do(t, http.MethodGet, "/work_pools/default-agent-pool", nil).Object(t)
		require.Nil(t, agentPool["status"], "the agent pool has no status")
	})
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		s.createPool(t, "wpool")

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/work_pools/wpool/workers/heartbeat",
			map[string]any{"name": "worker-1", "heartbeat_interval_seconds": 30}))
		requireDetail(t, http.StatusNotFound, `Work pool "nope" not found.`,
			s.do(t, http.MethodPost, "/work_pools/nope/workers/heartbeat", map[string]any{"name": "worker-1"}))
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/wpool/workers/heartbeat", map[string]any{}), "body", "name")
		// A whole float is an int to pydantic: workers made in Python send 30.0; 30.5 is not.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/work_pools/wpool/workers/heartbeat",
			`{"name": "worker-1", "heartbeat_interval_seconds": 30.0}`))
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/wpool/workers/heartbeat",
			`{"name": "worker-1", "heartbeat_interval_seconds": 30.5}`), "body", "heartbeat_interval_seconds")
		requireValidationError(t, s.do(t, http.MethodPost, "/work_pools/wpool/workers/heartbeat",
			`{"name": "worker-1", "heartbeat_interval_seconds": "soon"}`), "body", "heartbeat_interval_seconds")
		require.Equal(t, "READY", s.do(t, http.MethodGet, "/work_pools/wpool", nil).Object(t)["status"])

		r := s.do(t, http.MethodPost, "/work_pools/wpool/workers/filter", map[string]any{"offset": 0, "limit": 10})
		requireStatus(t, http.StatusOK, r)
		workers := r.List(t)
		require.Len(t, workers, 1)
		w := workers[0].(map[string]any)
		require.Equal(t, "worker-1", w["name"])
		require.Equal(t, "ONLINE", w["status"])
		require.EqualValues(t, 30, w["heartbeat_interval_seconds"])
		require.NotEmpty(t, w["last_heartbeat_time"])
		requireStatus(t, http.StatusNotFound, s.do(t, http.MethodPost, "/work_pools/nope/workers/filter", nil))

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/work_pools/wpool/workers/worker-1", nil))
		requireDetail(t, http.StatusNotFound, "Worker not found.", s.do(t, http.MethodDelete, "/work_pools/wpool/workers/worker-1", nil))
	})
}

// TestWorkerPolling follows a worker: a deployment in a pool, a run made
// from it, the worker's poll and what the poll records.
func TestWorkerPolling(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		pool := s.createPool(t, "poll-pool")
		flowID := s.createFlow(t, "polled-flow")
		dep := s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "dep", "flow_id": flowID, "work_pool_name": "poll-pool",
			"work_queue_name": "q1", "tags": []string{"t"}})
		requireStatus(t, http.StatusCreated, dep)
		depID := dep.Object(t)["id"].(string)

		run := s.do(t, http.MethodPost, "/deployments/"+depID+"/create_flow_run", map[string]any{})
		requireStatus(t, http.StatusCreated, run)
		runObj := run.Object(t)
		require.Equal(t, "SCHEDULED", stateOf(t, runObj)["type"])
		require.Equal(t, "q1", runObj["work_queue_name"])
		require.Equal(t, "poll-pool", runObj["work_pool_name"])
		require.Equal(t, pool["id"], runObj["work_pool_id"])

		// A run scheduled for later is not offered yet.
		future := s.do(t, http.MethodPost, "/deployments/"+depID+"/create_flow_run", map[string]any{
			"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"scheduled_time": time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)}}})
		requireStatus(t, http.StatusCreated, future)

		before := time.Now().Add(10 * time.Second).UTC().Format(time.RFC3339Nano)
		poll := s.do(t, http.MethodPost, "/work_pools/poll-pool/get_scheduled_flow_runs", map[string]any{"scheduled_before": before})
		requireStatus(t, http.StatusOK, poll)
		got := poll.List(t)
		require.Len(t, got, 1)
		item := got[0].(map[string]any)
		require.Equal(t, pool["id"], item["work_pool_id"])
		require.Equal(t, runObj["work_queue_id"], item["work_queue_id"])
		require.Equal(t, runObj["id"], item["flow_run"].(map[string]any)["id"])

		q := s.do(t, http.MethodGet, "/work_pools/poll-pool/queues/q1", nil).Object(t)
		require.Equal(t, "READY", q["status"])
		require.NotNil(t, q["last_polled"])
		status := s.do(t, http.MethodGet, "/work_queues/"+q["id"].(string)+"/status", nil)
		requireStatus(t, http.StatusOK, status)
		require.Equal(t, true, status.Object(t)["healthy"], "polled just now, no late runs")
		require.EqualValues(t, 0, status.Object(t)["late_runs_count"])
		legacyRuns := s.do(t, http.MethodPost, "/work_queues/"+q["id"].(string)+"/get_runs", map[string]any{"scheduled_before": before}, "X-Prefect-UI", "true")
		requireStatus(t, http.StatusOK, legacyRuns)
		require.Len(t, legacyRuns.List(t), 1)
		require.Equal(t, runObj["id"], legacyRuns.List(t)[0].(map[string]any)["id"])
		d := s.do(t, http.MethodGet, "/deployments/"+depID, nil).Object(t)
		require.Equal(t, "READY", d["status"])
		require.NotNil(t, d["last_polled"])

		byQueue := s.do(t, http.MethodPost, "/work_pools/poll-pool/get_scheduled_flow_runs", map[string]any{"work_queue_names": []string{"default"}, "scheduled_before": before})
		requireStatus(t, http.StatusOK, byQueue)
		require.Empty(t, byQueue.List(t))
		requireDetail(t, http.StatusNotFound, "Work pool queue 'poll-pool/nope' not found.",
			s.do(t, http.MethodPost, "/work_pools/poll-pool/get_scheduled_flow_runs", map[string]any{"work_queue_names": []string{"nope"}}))
		requireDetail(t, http.StatusNotFound, `Work pool "nope" not found.`,
			s.do(t, http.MethodPost, "/work_pools/nope/get_scheduled_flow_runs", nil))

		// Once the worker took it (Pending), it is no longer offered.
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flow_runs/"+runObj["id"].(string)+"/set_state",
			map[string]any{"state": map[string]any{"type": "PENDING"}}))
		poll = s.do(t, http.MethodPost, "/work_pools/poll-pool/get_scheduled_flow_runs", map[string]any{"scheduled_before": before})
		requireStatus(t, http.StatusOK, poll)
		require.Empty(t, poll.List(t))

		// Flow runs by pool, queue and deployment.
		filtered := s.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{"work_pools": map[string]any{"name": map[string]any{"any_": []string{"poll-pool"}}}})
		requireStatus(t, http.StatusOK, filtered)
		require.Len(t, filtered.List(t), 2)
		filtered = s.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []string{depID}}},
			"flow_runs": map[string]any{"state": map[string]any{"type": map[string]any{"any_": []string{"PENDING"}}}}})
		requireStatus(t, http.StatusOK, filtered)
		require.Len(t, filtered.List(t), 1)

		// POST /flow_runs/ places a run in a pool by name.
		placed := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "work_pool_name": "poll-pool"})
		requireStatus(t, http.StatusCreated, placed)
		require.Equal(t, "default", placed.Object(t)["work_queue_name"])
		require.Equal(t, pool["id"], placed.Object(t)["work_pool_id"])
		requireDetail(t, http.StatusNotFound, "Work pool queue 'poll-pool/zzz' not found.",
			s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "work_pool_name": "poll-pool", "work_queue_name": "zzz"}))
	})
}

// GET /work_queues/{id}/status as the UI's work-queue page reads it: healthy
// only when polled in the last minute and without Late runs.
func TestWorkQueueStatus(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		r := s.do(t, http.MethodPost, "/work_queues/", map[string]any{"name": "lq"})
		requireStatus(t, http.StatusCreated, r)
		queueID := r.Object(t)["id"].(string)
		policy := map[string]any{"maximum_late_runs": float64(0), "maximum_seconds_since_last_polled": float64(60)}

		r = s.do(t, http.MethodGet, "/work_queues/"+queueID+"/status", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{"healthy": false, "late_runs_count": float64(0), "last_polled": nil, "health_check_policy": policy},
			r.Object(t), "never polled")

		flowID := s.createFlow(t, "lq-flow")
		r = s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "lq-dep", "flow_id": flowID, "work_queue_name": "lq"})
		requireStatus(t, http.StatusCreated, r)
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/deployments/"+r.Object(t)["id"].(string)+"/create_flow_run",
			map[string]any{"state": map[string]any{"type": "SCHEDULED", "name": "Late", "state_details": map[string]any{"scheduled_time": "2020-01-01T00:00:00Z"}}}))
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/work_queues/"+queueID+"/get_runs", map[string]any{}))

		r = s.do(t, http.MethodGet, "/work_queues/"+queueID+"/status", nil)
		requireStatus(t, http.StatusOK, r)
		status := r.Object(t)
		require.Equal(t, false, status["healthy"], "polled just now, but a run is Late")
		require.Equal(t, float64(1), status["late_runs_count"])
		require.NotNil(t, status["last_polled"])

		missing := s.do(t, http.MethodGet, "/work_queues/"+uuid.NewString()+"/status", nil)
		requireStatus(t, http.StatusNotFound, missing)
		require.Contains(t, missing.Object(t)["exception_message"], "not found")
		// {id:uuid} in Prefect: anything else matches no route.
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/work_queues/nope/status", nil))
	})
}
