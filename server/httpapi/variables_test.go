package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// The calls `prefect variable set/get/ls/unset` and Variable.get/set make.
func TestVariablesAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)

		r := s.do(t, http.MethodPost, "/variables/", map[string]any{"name": "db_config", "value": map[string]any{"host": "pg", "port": 5432}, "tags": []string{"prod"}})
		requireStatus(t, http.StatusCreated, r)
		created := r.Object(t)
		id := created["id"].(string)
		require.Equal(t, "db_config", created["name"])
		require.Equal(t, map[string]any{"host": "pg", "port": float64(5432)}, created["value"])
		require.Equal(t, []any{"prod"}, created["tags"])
		require.NotEmpty(t, created["created"])

		requireDetail(t, http.StatusConflict, "A variable with the name 'db_config' already exists.",
			s.do(t, http.MethodPost, "/variables/", map[string]any{"name": "db_config", "value": 1}))
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/variables", `{"name": "empty", "value": null}`))
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/variables/", map[string]any{"name": "answer", "value": 42, "tags": []string{"prod"}}))

		got := s.do(t, http.MethodGet, "/variables/name/db_config", nil)
		requireStatus(t, http.StatusOK, got)
		require.Equal(t, id, got.Object(t)["id"])
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/variables/"+id, nil))
		empty := s.do(t, http.MethodGet, "/variables/name/empty", nil)
		requireStatus(t, http.StatusOK, empty)
		require.Contains(t, empty.Object(t), "value")
		require.Nil(t, empty.Object(t)["value"])

		// Variable.set(overwrite=True): PATCH by name, then GET.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/variables/name/db_config",
			map[string]any{"name": "db_config", "value": "plain", "tags": []string{}}))
		got = s.do(t, http.MethodGet, "/variables/name/db_config", nil)
		require.Equal(t, "plain", got.Object(t)["value"])
		require.Equal(t, []any{}, got.Object(t)["tags"])
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/variables/"+id, map[string]any{"tags": []string{"x"}}))
		got = s.do(t, http.MethodGet, "/variables/"+id, nil)
		require.Equal(t, "plain", got.Object(t)["value"], "a PATCH changes only what it sends")
		require.Equal(t, []any{"x"}, got.Object(t)["tags"])

		list := s.do(t, http.MethodPost, "/variables/filter", `{"limit": null}`)
		requireStatus(t, http.StatusOK, list)
		names := []string{}
		for _, v := range list.List(t) {
			names = append(names, v.(map[string]any)["name"].(string))
		}
		require.Equal(t, []string{"answer", "db_config", "empty"}, names)
		filtered := s.do(t, http.MethodPost, "/variables/filter", map[string]any{"variables": map[string]any{"name": map[string]any{"like_": "CONF"}}})
		requireStatus(t, http.StatusOK, filtered)
		require.Len(t, filtered.List(t), 1)
		desc := s.do(t, http.MethodPost, "/variables/filter", map[string]any{"sort": "NAME_DESC", "limit": 1})
		require.Equal(t, "empty", desc.List(t)[0].(map[string]any)["name"])
		count := s.do(t, http.MethodPost, "/variables/count", map[string]any{"variables": map[string]any{"tags": map[string]any{"all_": []string{"prod"}}}})
		requireStatus(t, http.StatusOK, count)
		require.Equal(t, float64(1), count.JSON(t))

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/variables/name/db_config", nil))
		requireDetail(t, http.StatusNotFound, "Variable not found.", s.do(t, http.MethodDelete, "/variables/name/db_config", nil))
		requireDetail(t, http.StatusNotFound, "Variable not found.", s.do(t, http.MethodGet, "/variables/name/db_config", nil))
		requireDetail(t, http.StatusNotFound, "Variable not found.", s.do(t, http.MethodGet, "/variables/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Variable not found.", s.do(t, http.MethodPatch, "/variables/"+id, map[string]any{"value": 1}))
		requireDetail(t, http.StatusNotFound, "Variable not found.", s.do(t, http.MethodPatch, "/variables/name/db_config", map[string]any{"value": 1}))
		requireDetail(t, http.StatusNotFound, "Variable not found.", s.do(t, http.MethodDelete, "/variables/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Variable not found.", s.do(t, http.MethodGet, "/variables/name/Not%20A%20Name", nil))
		answer := s.do(t, http.MethodGet, "/variables/name/answer", nil).Object(t)
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/variables/"+answer["id"].(string), nil))
	})
}

func TestVariablesAPIValidation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		post := func(body any) reply { return s.do(t, http.MethodPost, "/variables/", body) }

		requireValidationError(t, post(map[string]any{"value": 1}), "body", "name")
		requireValidationError(t, post(map[string]any{"name": "x"}), "body", "value")
		requireValidationError(t, post(map[string]any{"name": "Has Spaces", "value": 1}), "body", "name")
		requireValidationError(t, post(map[string]any{"name": "dots.not.allowed", "value": 1}), "body", "name")
		requireValidationError(t, post(map[string]any{"name": strings.Repeat("a", 256), "value": 1}), "body", "name")
		requireValidationError(t, post(map[string]any{"name": "big", "value": strings.Repeat("x", 5000)}), "body", "value")
		requireStatus(t, http.StatusCreated, post(map[string]any{"name": "just_fits", "value": strings.Repeat("x", 4998)}))
		requireValidationError(t, post(map[string]any{"name": "nul", "value": "a\x00b"}), "body", "value")
		requireValidationError(t, post(map[string]any{"name": "tags", "value": 1, "tags": "not-a-list"}), "body", "tags")
		requireValidationError(t, post(`{"name": "broken", "value": }`))
		requireValidationError(t, s.do(t, http.MethodPatch, "/variables/name/just_fits", map[string]any{"name": "UPPER"}), "body", "name")
		requireValidationError(t, s.do(t, http.MethodGet, "/variables/not-a-uuid", nil), "path", "id")
		requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
			s.do(t, http.MethodPost, "/variables/filter", map[string]any{"limit": 201}))
		requireValidationError(t, s.do(t, http.MethodPost, "/variables/filter", map[string]any{"sort": "SIDEWAYS"}), "body", "sort")

		// Renaming onto a taken name is a conflict, not a 500.
		requireStatus(t, http.StatusCreated, post(map[string]any{"name": "other", "value": 1}))
		requireStatus(t, http.StatusConflict, s.do(t, http.MethodPatch, "/variables/name/other", map[string]any{"name": "just_fits"}))
	})
}
