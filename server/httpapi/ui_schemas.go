package httpapi

import (
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/templates"
)

// validateSchemaValues is POST /ui/schemas/validate, which the UI's forms
// built from a JSON schema (a deployment's parameters, a block's fields)
// call as the user types: the values, hydrated as a run's parameters are,
// checked against the schema, every error under the field it concerns.
func (a *API) validateSchemaValues(r *http.Request, q *schema.SchemaValuesQuery) (response, error) {
	objects := make([]map[string]any, 2)
	for i, f := range []struct {
		name string
		raw  []byte
	}{{"schema", q.Schema}, {"values", q.Values}} {
		if len(f.raw) == 0 {
			return response{}, invalid([]string{"body", f.name}, "Field required", "missing", nil)
		}
		m, isObject := schema.DecodeObject(f.raw)
		if !isObject {
			return response{}, invalid([]string{"body", f.name}, "Input should be a valid dictionary", "dict_type", nil)
		}
		objects[i] = m
	}
	values, err := a.hydrate(r.Context(), objects[1], keepTemplate)
	var failed *templates.HydrationError
	if errors.As(err, &failed) {
		// Prefect places it under the field that holds the placeholder;
		// here it is the form's own error.
		return ok(schema.SchemaValuesValidation{Errors: []any{failed.Message}}), nil
	}
	if err != nil {
		return response{}, err
	}
	out, err := schema.ValidateValues(values, schema.PreprocessSchema(objects[0], false))
	if errors.Is(err, schema.ErrSchemaCircular) {
		return response{}, detail(http.StatusUnprocessableEntity, err.Error())
	}
	return ok(out), err
}
