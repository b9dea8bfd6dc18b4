package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// The artifacts page and `prefect artifact ls` read collections: one per
// key, its latest artifact, with latest_id.
func TestArtifactCollections(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		create := func(body map[string]any) string {
			t.Helper()
			r := s.do(t, http.MethodPost, "/artifacts/", body)
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)["id"].(string)
		}
		v1 := create(map[string]any{"key": "report", "type": "markdown", "data": "# v1", "description": "first"})
		v2 := create(map[string]any{"key": "report", "type": "markdown", "data": "# v2", "description": "second", "metadata_": map[string]any{"a": "b"}})
		table := create(map[string]any{"key": "table-x", "type": "table", "data": [][]int{{1}}})
		create(map[string]any{"type": "link", "data": "unkeyed"})

		r := s.do(t, http.MethodPost, "/artifacts/latest/filter", map[string]any{"sort": "KEY_ASC"})
		requireStatus(t, http.StatusOK, r)
		list := r.List(t)
		require.Len(t, list, 2, "one per key; unkeyed artifacts have none")
		report, tbl := list[0].(map[string]any), list[1].(map[string]any)
		require.Equal(t, v1, report["id"], "the collection keeps its key's first id")
		require.NotEmpty(t, report["created"])
		require.NotEmpty(t, report["updated"])
		delete(report, "id")
		delete(report, "created")
		delete(report, "updated")
		require.Equal(t, map[string]any{"key": "report", "latest_id": v2, "type": "markdown", "description": "second", "data": "# v2",
			"metadata_": map[string]any{"a": "b"}, "flow_run_id": nil, "task_run_id": nil}, report)
		require.Equal(t, table, tbl["latest_id"])

		byLatest := map[string]any{"artifacts": map[string]any{"latest_id": map[string]any{"any_": []string{v2}}}}
		r = s.do(t, http.MethodPost, "/artifacts/latest/count", byLatest)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, float64(1), r.JSON(t))
		r = s.do(t, http.MethodPost, "/artifacts/latest/filter", map[string]any{"artifacts": map[string]any{"latest_id": map[string]any{"any_": []string{v1}}}})
		requireStatus(t, http.StatusOK, r)
		require.Empty(t, r.List(t), "v1 is no longer the latest of its key")

		// Deleting the latest makes the one before it the latest again.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/artifacts/"+v2, nil))
		r = s.do(t, http.MethodPost, "/artifacts/latest/filter", map[string]any{"artifacts": map[string]any{"key": map[string]any{"any_": []string{"report"}}}})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		require.Equal(t, v1, r.List(t)[0].(map[string]any)["latest_id"])
		require.Equal(t, "# v1", r.List(t)[0].(map[string]any)["data"])

		requireValidationError(t, s.do(t, http.MethodPost, "/artifacts/latest/filter", map[string]any{"sort": "NOPE"}), "body", "sort")
		requireValidationError(t, s.do(t, http.MethodPost, "/artifacts/latest/filter", map[string]any{"artifacts": map[string]any{"latest_id": map[string]any{"any_": []string{"x"}}}}))
	})
}
