package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestPaginateRuns pages flows, flow runs and task runs under the same
// filters and sorts as their /filter routes.
func TestPaginateRuns(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		var runIDs []string
		for _, name := range []string{"pa", "pb", "pc"} {
			flowID := s.createFlow(t, name)
			r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": "run-" + name, "tags": []string{"pg"}})
			requireStatus(t, http.StatusCreated, r)
			runIDs = append(runIDs, r.Object(t)["id"].(string))
		}
		for i, key := range []string{"t1", "t2", "t3"} {
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/task_runs/", map[string]any{
				"flow_run_id": runIDs[0], "task_key": key, "dynamic_key": "0", "name": "task-" + key, "tags": []string{[]string{"x", "y", "x"}[i]},
			}))
		}

		names := func(page map[string]any) []string {
			var out []string
			for _, r := range page["results"].([]any) {
				out = append(out, r.(map[string]any)["name"].(string))
			}
			return out
		}
		requirePage := func(r reply, count, limit, pages, page int, want ...string) {
			t.Helper()
			requireStatus(t, http.StatusOK, r)
			got := r.Object(t)
			require.Equal(t, []any{float64(count), float64(limit), float64(pages), float64(page)}, []any{got["count"], got["limit"], got["pages"], got["page"]})
			require.Equal(t, want, names(got))
		}

		// Flows sort by name by default; the second page of two holds the last.
		requirePage(s.do(t, http.MethodPost, "/flows/paginate", map[string]any{"page": 2, "limit": 2}), 3, 2, 2, 2, "pc")
		requirePage(s.do(t, http.MethodPost, "/flows/paginate", map[string]any{"sort": "NAME_DESC", "limit": 2}), 3, 2, 2, 1, "pc", "pb")
		// An offset is not a key of /paginate: it does not move the page.
		requirePage(s.do(t, http.MethodPost, "/flows/paginate", map[string]any{"offset": 2, "flows": map[string]any{"name": map[string]any{"any_": []string{"pa", "pb"}}}}),
			2, 200, 1, 1, "pa", "pb")
		requirePage(s.do(t, http.MethodPost, "/flow_runs/paginate", map[string]any{"sort": "NAME_ASC", "page": 1, "limit": 2,
			"flows": map[string]any{"name": map[string]any{"any_": []string{"pb", "pc"}}}}), 2, 2, 1, 1, "run-pb", "run-pc")
		requirePage(s.do(t, http.MethodPost, "/flow_runs/paginate", map[string]any{"page": 9}), 3, 200, 1, 9)
		requirePage(s.do(t, http.MethodPost, "/task_runs/paginate", map[string]any{"sort": "NAME_DESC", "limit": 1, "page": 2,
			"task_runs": map[string]any{"tags": map[string]any{"all_": []string{"x"}}}}), 2, 1, 2, 2, "task-t1")
		requirePage(s.do(t, http.MethodPost, "/task_runs/paginate", map[string]any{"limit": 0}), 3, 0, 0, 1)

		for _, path := range []string{"/flows/paginate", "/flow_runs/paginate", "/task_runs/paginate"} {
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"page": 0}), "body", "page")
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"page": "two"}), "body", "page")
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"flows": map[string]any{"nope": 1}}), "body", "flows", "nope")
			requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
				s.do(t, http.MethodPost, path, map[string]any{"limit": 201}))
		}
	})
}
