package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/templates"
)

// hydrateParameters resolves the parameter placeholders of a run made from
// a deployment (or of its new parameters), as Prefect's routes do: every
// "__prefect_kind", variables read from the store, jinja rendered with an
// empty context; the first failure is returned.
func (a *API) hydrateParameters(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	if !bytes.Contains(raw, []byte("__prefect_kind")) {
		return raw, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return raw, nil
	}
	out, err := a.hydrate(ctx, v, templates.Renderer{}.Render)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// keepTemplate leaves a checked jinja value as its template: the resume and
// form routes hydrate without rendering.
func keepTemplate(src string, _ map[string]any) (string, error) { return src, nil }

// hydrate is templates.Hydrate over the store's variables, stopping at the
// first *templates.HydrationError; render says what a jinja value becomes.
// A value that disappears entirely is {}.
func (a *API) hydrate(ctx context.Context, v any, render func(string, map[string]any) (string, error)) (any, error) {
	return templates.Hydrate(v, templates.HydrationContext{RaiseOnError: true, RenderJinja: true, Render: render,
		RenderVariables: true, Variable: func(name string) (any, bool, error) {
			variable, err := a.store.ReadVariableByName(ctx, name)
			if errors.Is(err, schema.ErrNotFound) {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, err
			}
			var value any
			d := json.NewDecoder(bytes.NewReader(variable.Value))
			d.UseNumber()
			_ = d.Decode(&value)
			return value, true, nil
		}})
}

// hydrationFailed renders a hydration error as Prefect's 400.
func hydrationFailed(err error, what string) error {
	var h *templates.HydrationError
	if errors.As(err, &h) {
		return detail(http.StatusBadRequest, "Error hydrating "+what+" parameters: "+h.Message)
	}
	return err
}
