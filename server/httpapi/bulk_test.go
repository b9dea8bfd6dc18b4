package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestBulkRoutes: state changes and deletions of what a filter selects, at
// most limit of them, with the verdict of each state change and the ids
// deleted, and the bounds of limit.
func TestBulkRoutes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "bulk")
		run := func(name string, tags ...string) string {
			r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": name, "tags": tags})
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)["id"].(string)
		}
		a, b := run("a", "batch"), run("b", "batch")
		c := run("c")
		batch := map[string]any{"tags": map[string]any{"all_": []string{"batch"}}}

		// Each selected run gets its verdict; the others are left alone.
		r := s.do(t, http.MethodPost, "/flow_runs/bulk_set_state", map[string]any{"flow_runs": batch, "state": map[string]any{"type": "CANCELLED"}})
		requireStatus(t, http.StatusOK, r)
		verdicts := map[string]string{}
		for _, res := range r.Object(t)["results"].([]any) {
			m := res.(map[string]any)
			verdicts[m["flow_run_id"].(string)] = m["status"].(string)
		}
		require.Equal(t, map[string]string{a: "ACCEPT", b: "ACCEPT"}, verdicts)
		for id, want := range map[string]string{a: "CANCELLED", b: "CANCELLED", c: "PENDING"} {
			r = s.do(t, http.MethodGet, "/flow_runs/"+id, nil)
			require.Equal(t, want, r.Object(t)["state_type"])
		}

		requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/bulk_set_state", map[string]any{"flow_runs": batch}), "body", "state")
		requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/bulk_delete", map[string]any{"limit": 51}), "body", "limit")
		requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/bulk_delete", map[string]any{"limit": 0}), "body", "limit")

		// Deletes: at most limit, the ids answered.
		r = s.do(t, http.MethodPost, "/flow_runs/bulk_delete", map[string]any{"flow_runs": batch, "limit": 1})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.Object(t)["deleted"], 1)
		r = s.do(t, http.MethodPost, "/flow_runs/count", map[string]any{})
		require.EqualValues(t, 2, r.JSON(t))
		r = s.do(t, http.MethodPost, "/flow_runs/bulk_delete", map[string]any{"flow_runs": map[string]any{"name": map[string]any{"any_": []string{"nothing"}}}})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{"deleted": []any{}}, r.Object(t))

		r = s.do(t, http.MethodPost, "/deployments/", servedDeployment(flowID))
		requireStatus(t, http.StatusCreated, r)
		r = s.do(t, http.MethodPost, "/deployments/bulk_delete", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.Object(t)["deleted"], 1)
		r = s.do(t, http.MethodPost, "/flows/bulk_delete", map[string]any{"flows": map[string]any{"name": map[string]any{"any_": []string{"bulk"}}}})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, map[string]any{"deleted": []any{flowID}}, r.Object(t))
		r = s.do(t, http.MethodPost, "/flow_runs/count", map[string]any{})
		require.EqualValues(t, 0, r.JSON(t), "a flow's runs go with it")
	})
}
