package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// The calls the UI's flows page makes for its deployment counts and next runs.
func TestUIFlowsAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		busy, idle, missing := s.createFlow(t, "busy"), s.createFlow(t, "idle"), uuid.NewString()
		for _, name := range []string{"one", "two"} {
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": name, "flow_id": busy}))
		}
		run := func(flowID, name string, state map[string]any) string {
			r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": name, "state": state})
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)["id"].(string)
		}
		scheduled := func(name, at string) map[string]any {
			return map[string]any{"type": "SCHEDULED", "name": name, "state_details": map[string]any{"scheduled_time": at}}
		}
		run(busy, "later", scheduled("Scheduled", "2030-01-02T00:00:00Z"))
		sooner := run(busy, "sooner", scheduled("AwaitingRetry", "2030-01-01T00:00:00Z"))
		run(busy, "pending", map[string]any{"type": "PENDING"})
		run(idle, "running", map[string]any{"type": "RUNNING"})
		ids := map[string]any{"flow_ids": []string{busy, idle, missing}}

		r := s.do(t, http.MethodPost, "/ui/flows/count-deployments", ids)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{busy: float64(2), idle: float64(0), missing: float64(0)}, r.Object(t))

		r = s.do(t, http.MethodPost, "/ui/flows/next-runs", ids)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{
			busy: map[string]any{"id": sooner, "flow_id": busy, "name": "sooner", "state_name": "AwaitingRetry",
				"state_type": "SCHEDULED", "next_scheduled_start_time": "2030-01-01T00:00:00Z"},
			idle:    nil,
			missing: nil,
		}, r.Object(t), "the scheduled run that starts first, of any scheduled state's name")

		r = s.do(t, http.MethodPost, "/ui/flows/next-runs", map[string]any{"flow_ids": []string{}})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{}, r.Object(t))

		for _, path := range []string{"/ui/flows/count-deployments", "/ui/flows/next-runs"} {
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{}), "body", "flow_ids")
			requireValidationError(t, s.do(t, http.MethodPost, path, nil), "body", "flow_ids")
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"flow_ids": []string{"x"}}))
			tooMany := make([]string, 201)
			for i := range tooMany {
				tooMany[i] = uuid.NewString()
			}
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"flow_ids": tooMany}), "body", "flow_ids")
		}
	})
}
