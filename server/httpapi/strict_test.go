package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestUnknownKeys: Prefect's action bodies and filter objects forbid keys
// they do not declare (422 extra_forbidden at the key's full path), while
// the embedded multi-parameter bodies of the filter endpoints ignore unknown
// top-level keys and free-form objects take any key.
func TestUnknownKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "strict-flow")
		id := uuid.NewString() // the key check comes before any lookup
		rejected := []struct {
			method, path, body string
			loc                string
		}{
			{"POST", "/flows/", `{"name": "f", "zzz": 1}`, "zzz"},
			{"PATCH", "/flows/" + flowID, `{"tags": [], "zzz": 1}`, "zzz"},
			{"POST", "/flows/", `{"Name": "f"}`, "Name"}, // keys are case-sensitive
			{"POST", "/flow_runs/", `{"flow_id": "` + flowID + `", "state": {"type": "PENDING", "zzz": 1}}`, "state.zzz"},
			{"PATCH", "/flow_runs/" + id, `{"name": "r", "zzz": 1}`, "zzz"},
			{"POST", "/task_runs/", `{"flow_run_id": null, "task_key": "k", "dynamic_key": "0", "zzz": 1}`, "zzz"},
			{"POST", "/deployments/", `{"name": "d", "flow_id": "` + flowID + `", "zzz": 1}`, "zzz"},
			{"POST", "/deployments/", `{"name": "d", "flow_id": "` + flowID + `", "schedules": [{"schedule": {"interval": 60}, "zzz": 1}]}`, "schedules.0.zzz"},
			{"PATCH", "/deployments/" + id, `{"paused": true, "zzz": 1}`, "zzz"},
			{"POST", "/deployments/" + id + "/create_flow_run", `{"zzz": 1}`, "zzz"},
			{"POST", "/logs/", `[{"name": "l", "level": 20, "message": "m", "timestamp": "2024-01-01T00:00:00Z", "zzz": 1}]`, "0.zzz"},
			{"POST", "/variables/", `{"name": "v", "value": 1, "zzz": 1}`, "zzz"},
			{"PATCH", "/variables/name/v", `{"value": 2, "zzz": 1}`, "zzz"},
			{"POST", "/work_pools/", `{"name": "p", "zzz": 1}`, "zzz"},
			{"PATCH", "/work_pools/p", `{"is_paused": true, "zzz": 1}`, "zzz"},
			{"POST", "/work_pools/p/queues", `{"name": "q", "zzz": 1}`, "zzz"},
			{"POST", "/artifacts/", `{"key": "a", "zzz": 1}`, "zzz"},
			{"POST", "/v2/concurrency_limits/", `{"name": "c", "limit": 1, "zzz": 1}`, "zzz"},
			{"POST", "/concurrency_limits/", `{"tag": "t", "concurrency_limit": 1, "zzz": 1}`, "zzz"},
			{"POST", "/block_types/", `{"name": "b", "slug": "b", "zzz": 1}`, "zzz"},
			{"PATCH", "/block_documents/" + id, `{"data": {}, "zzz": 1}`, "zzz"},
			// Filter objects, at any depth, inside otherwise lenient bodies.
			{"POST", "/flow_runs/filter", `{"flow_runs": {"zzz": 1}}`, "flow_runs.zzz"},
			{"POST", "/flow_runs/filter", `{"flows": {"name": {"any_": ["f"], "zzz": 1}}}`, "flows.name.zzz"},
			{"POST", "/flows/count", `{"task_runs": {"state": {"type": {"zzz": 1}}}}`, "task_runs.state.type.zzz"},
			{"POST", "/deployments/filter", `{"deployments": {"zzz": 1}}`, "deployments.zzz"},
			{"POST", "/block_documents/filter", `{"block_documents": {"zzz": 1}}`, "block_documents.zzz"},
			{"POST", "/work_pools/filter", `{"work_pools": {"name": {"zzz": 1}}}`, "work_pools.name.zzz"},
			{"POST", "/events/filter", `{"filter": {"event": {"prefix": ["x"], "future": 1}}}`, "filter.event.future"},
		}
		for _, tc := range rejected {
			t.Run(tc.method+" "+tc.path+" "+tc.loc, func(t *testing.T) {
				r := s.do(t, tc.method, tc.path, tc.body)
				body := requireValidationError(t, r, append([]string{"body"}, strings.Split(tc.loc, ".")...)...)
				first := body["exception_detail"].([]any)[0].(map[string]any)
				require.Equal(t, "extra_forbidden", first["type"])
				require.Equal(t, "Extra inputs are not permitted", first["msg"])
				require.JSONEq(t, tc.body, mustJSON(t, body["request_body"]))
			})
		}

		accepted := []struct {
			method, path, body string
			status             int
		}{
			// Unknown top-level keys of an embedded body are ignored.
			{"POST", "/flow_runs/filter", `{"zzz": 1, "limit": 1}`, http.StatusOK},
			{"POST", "/flows/count", `{"zzz": {"anything": true}}`, http.StatusOK},
			// Free-form objects and models Prefect leaves open.
			{"POST", "/flow_runs/", `{"flow_id": "` + flowID + `", "parameters": {"any": 1}, "empirical_policy": {"future": 1}, "state": {"type": "PENDING", "state_details": {"future": 1}}}`, http.StatusCreated},
			{"POST", "/flows/", `{"name": "f2", "labels": {"any": "x"}}`, http.StatusCreated},
			{"POST", "/variables/", `{"name": "v2", "value": {"nested": {"any": 1}}}`, http.StatusCreated},
		}
		for _, tc := range accepted {
			t.Run(tc.method+" "+tc.path+" accepted", func(t *testing.T) {
				requireStatus(t, tc.status, s.do(t, tc.method, tc.path, tc.body))
			})
		}
	})
}

// TestNullBody: a body that is a single model or list is required (null or
// absent is a 422 "Field required" at loc body), while an embedded
// multi-parameter body takes its defaults, as FastAPI does.
func TestNullBody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		id := uuid.NewString()
		for _, path := range []string{"/flows/", "/flow_runs/", "/logs/", "/variables/", "/deployments/" + id + "/schedules"} {
			for _, body := range []any{"null", " null ", nil} {
				r := s.do(t, http.MethodPost, path, body)
				detail := requireValidationError(t, r, "body")["exception_detail"].([]any)[0].(map[string]any)
				require.Equal(t, "missing", detail["type"], path)
				require.Equal(t, "Field required", detail["msg"], path)
			}
		}
		requireValidationError(t, s.do(t, http.MethodPatch, "/flows/"+id, "null"), "body")
		for _, body := range []any{"null", nil} {
			requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/flows/filter", body))
			requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/flow_runs/count", body))
			// The required parameters of an embedded body are still checked.
			requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", body))
		}
	})
}
