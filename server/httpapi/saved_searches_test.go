package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// The calls the UI's flow-runs page makes to save, list and delete views.
func TestSavedSearchesAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		failed := map[string]any{"object": "flow_run", "property": "state", "type": "string", "operation": "equals", "value": []string{"Failed"}}

		r := s.do(t, http.MethodPut, "/saved_searches/", map[string]any{"name": "failures", "filters": []any{failed}})
		requireStatus(t, http.StatusCreated, r)
		first := r.Object(t)
		id := first["id"].(string)
		require.Equal(t, "failures", first["name"])
		require.Equal(t, []any{map[string]any{"object": "flow_run", "property": "state", "type": "string", "operation": "equals", "value": []any{"Failed"}}}, first["filters"])

		// Saving the name again replaces the filters: 200, same id and times.
		r = s.do(t, http.MethodPut, "/saved_searches", map[string]any{"name": "failures"})
		requireStatus(t, http.StatusOK, r)
		again := r.Object(t)
		require.Equal(t, id, again["id"])
		require.Equal(t, first["updated"], again["updated"])
		require.Equal(t, []any{}, again["filters"])

		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPut, "/saved_searches/", map[string]any{"name": "all"}))
		r = s.do(t, http.MethodPost, "/saved_searches/filter", nil)
		requireStatus(t, http.StatusOK, r)
		var names []any
		for _, o := range r.List(t) {
			names = append(names, o.(map[string]any)["name"])
		}
		require.Equal(t, []any{"all", "failures"}, names)
		r = s.do(t, http.MethodPost, "/saved_searches/filter", map[string]any{"limit": 1, "offset": 1})
		require.Len(t, r.List(t), 1)
		require.Equal(t, "failures", r.List(t)[0].(map[string]any)["name"])

		got := s.do(t, http.MethodGet, "/saved_searches/"+id, nil)
		requireStatus(t, http.StatusOK, got)
		require.Equal(t, again, got.Object(t))

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/saved_searches/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Saved search not found", s.do(t, http.MethodGet, "/saved_searches/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Saved search not found", s.do(t, http.MethodDelete, "/saved_searches/"+id, nil))
		// {id:uuid} in Prefect: anything else matches no route.
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/saved_searches/nope", nil))

		requireValidationError(t, s.do(t, http.MethodPut, "/saved_searches/", map[string]any{"filters": []any{}}), "body", "name")
		requireValidationError(t, s.do(t, http.MethodPut, "/saved_searches/", map[string]any{"name": "x", "zz": 1}), "body", "zz")
		// An unknown key in a filter is ignored, a missing one is not.
		requireValidationError(t, s.do(t, http.MethodPut, "/saved_searches/", map[string]any{"name": "x", "filters": []any{map[string]any{"object": "flow_run", "extra": 1}}}),
			"body", "filters", "0", "property")
		requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
			s.do(t, http.MethodPost, "/saved_searches/filter", map[string]any{"limit": 201}))
	})
}
