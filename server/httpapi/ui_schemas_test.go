package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestValidateSchemaValues: the UI forms' check, with placeholders hydrated
// first, and Prefect's 422s for a body without an object.
func TestValidateSchemaValues(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		params := map[string]any{"type": "object", "properties": map[string]any{
			"n": map[string]any{"type": "integer"}, "cfg": map[string]any{"type": "object"}}, "required": []string{"n", "cfg"}}
		validate := func(values map[string]any) map[string]any {
			t.Helper()
			r := s.do(t, http.MethodPost, "/ui/schemas/validate", map[string]any{"schema": params, "values": values})
			requireStatus(t, http.StatusOK, r)
			return r.Object(t)
		}

		require.Equal(t, map[string]any{"errors": []any{}, "valid": true}, validate(map[string]any{"n": 1, "cfg": map[string]any{}}))
		require.Equal(t, map[string]any{"valid": false, "errors": []any{
			map[string]any{"property": "cfg", "errors": []any{"'cfg' is a required property"}},
			map[string]any{"property": "n", "errors": []any{"'one' is not of type 'integer'"}},
		}}, validate(map[string]any{"n": "one"}))

		// A JSON placeholder is parsed before the check; a variable that
		// does not exist is the form's error.
		require.Equal(t, true, validate(map[string]any{"n": 2, "cfg": map[string]any{"__prefect_kind": "json", "value": `{"a": 1}`}})["valid"])
		got := validate(map[string]any{"n": 2, "cfg": map[string]any{"__prefect_kind": "workspace_variable", "variable_name": "nope"}})
		require.Equal(t, false, got["valid"])
		require.Equal(t, []any{"Variable 'nope' not found in workspace."}, got["errors"])

		requireValidationError(t, s.do(t, http.MethodPost, "/ui/schemas/validate", map[string]any{"values": map[string]any{}}), "body", "schema")
		requireValidationError(t, s.do(t, http.MethodPost, "/ui/schemas/validate", map[string]any{"schema": params, "values": []int{1}}), "body", "values")
		r := s.do(t, http.MethodPost, "/ui/schemas/validate", map[string]any{"values": map[string]any{},
			"schema": map[string]any{"$ref": "#/definitions/A", "definitions": map[string]any{"A": map[string]any{"$ref": "#/definitions/A"}}}})
		requireStatus(t, http.StatusUnprocessableEntity, r)
		require.Equal(t, "Invalid schema: Unable to validate schema with circular references.", r.Object(t)["detail"])
	})
}
