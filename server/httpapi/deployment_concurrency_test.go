package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

func TestDeploymentConcurrencyThroughSetState(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "limited")
		r := s.do(t, http.MethodPost, "/deployments/", map[string]any{"name": "one", "flow_id": flowID,
			"concurrency_limit": 1, "concurrency_options": map[string]any{"collision_strategy": "ENQUEUE"}})
		requireStatus(t, http.StatusCreated, r)
		depID := r.Object(t)["id"].(string)
		newRun := func() string {
			r := s.do(t, http.MethodPost, "/deployments/"+depID+"/create_flow_run", map[string]any{})
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)["id"].(string)
		}
		first, second := newRun(), newRun()
		ua := []string{"User-Agent", "prefect/3.9.0 (API 0.8.4)"}
		set := func(id, typ string) map[string]any {
			r := s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": typ}}, ua...)
			require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.Status)
			return r.Object(t)
		}

		res := set(first, "PENDING")
		require.Equal(t, "ACCEPT", res["status"])
		lease := stateOf(t, res)["state_details"].(map[string]any)["deployment_concurrency_lease_id"]
		require.NotNil(t, lease)
		r = s.do(t, http.MethodPost, "/v2/concurrency_limits/leases/"+lease.(string)+"/renew", map[string]any{"lease_duration": 60})
		require.Less(t, r.Status, 300, "the client renews the lease through the lease routes")

		res = set(second, "PENDING")
		require.Equal(t, "REJECT", res["status"])
		require.Equal(t, "Deployment concurrency limit reached.", res["details"].(map[string]any)["reason"])
		require.Equal(t, "AwaitingConcurrencySlot", stateOf(t, res)["name"])
		require.Equal(t, "SCHEDULED", stateOf(t, res)["type"])

		require.Equal(t, "ACCEPT", set(first, "RUNNING")["status"])
		require.Equal(t, "ACCEPT", set(first, "COMPLETED")["status"])

		r = s.do(t, http.MethodGet, "/v2/concurrency_limits/deployment:"+depID, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, float64(0), r.Object(t)["active_slots"])

		// The waiting run is scheduled 30 s ahead; a worker submits it anyway.
		res = set(second, "PENDING")
		require.Equal(t, "ACCEPT", res["status"])

		// Limit 0 (only the v2 routes can set it) deadlocks: aborted.
		r = s.do(t, http.MethodPatch, "/v2/concurrency_limits/deployment:"+depID, map[string]any{"limit": 0})
		require.Less(t, r.Status, 300)
		res = set(newRun(), "PENDING")
		require.Equal(t, "ABORT", res["status"])
	})
}
