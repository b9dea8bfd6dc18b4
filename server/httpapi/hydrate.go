package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
)

// hydrationError is a parameter placeholder that cannot be resolved; its
// text is Prefect's.
type hydrationError struct{ msg string }

func (e *hydrationError) Error() string { return e.msg }

// removeValue marks a placeholder that disappears from its parent.
type removeValue struct{}

// hydrateParameters resolves the UI's parameter placeholders, as Prefect's
// hydrate does before a run is made from a deployment: objects with a
// "__prefect_kind" of "none" (pass-through), "json" (a JSON text parsed),
// "workspace_variable" (a variable's value) and "jinja" (the template, which
// is not rendered here). Other kinds give their "value".
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
	out, err := a.hydrate(ctx, v)
	if err != nil {
		return nil, err
	}
	if _, gone := out.(removeValue); gone {
		out = map[string]any{}
	}
	return json.Marshal(out)
}

func (a *API) hydrate(ctx context.Context, v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if kind, ok := x["__prefect_kind"]; ok {
			return a.hydrateKind(ctx, kind, x)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			h, err := a.hydrate(ctx, e)
			if err != nil {
				return nil, err
			}
			if _, gone := h.(removeValue); !gone {
				out[k] = h
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			h, err := a.hydrate(ctx, e)
			if err != nil {
				return nil, err
			}
			if _, gone := h.(removeValue); !gone {
				out = append(out, h)
			}
		}
		return out, nil
	}
	return v, nil
}

func (a *API) hydrateKind(ctx context.Context, kind any, obj map[string]any) (any, error) {
	switch kind {
	case "none":
		val, ok := obj["value"]
		if !ok {
			return nil, &hydrationError{"Missing 'value' key in __prefect object"}
		}
		return a.hydrate(ctx, val)
	case "json":
		val, ok := obj["value"]
		if !ok {
			return removeValue{}, nil
		}
		if m, isMap := val.(map[string]any); isMap {
			h, err := a.hydrate(ctx, m)
			if err != nil {
				return nil, err
			}
			val = h
		}
		text, isText := val.(string)
		if !isText {
			return val, nil
		}
		d := json.NewDecoder(bytes.NewReader([]byte(text)))
		d.UseNumber()
		var parsed any
		if err := d.Decode(&parsed); err != nil {
			return nil, &hydrationError{"Invalid JSON: " + err.Error()}
		}
		return parsed, nil
	case "jinja":
		tpl, ok := obj["template"]
		if !ok {
			return nil, &hydrationError{"Missing 'template' key in __prefect object"}
		}
		return a.hydrate(ctx, tpl)
	case "workspace_variable":
		name, ok := obj["variable_name"]
		if !ok {
			return removeValue{}, nil
		}
		s, _ := name.(string)
		v, err := a.store.ReadVariableByName(ctx, s)
		if errors.Is(err, schema.ErrNotFound) {
			return nil, &hydrationError{"Variable '" + s + "' not found in workspace."}
		}
		if err != nil {
			return nil, err
		}
		var value any
		d := json.NewDecoder(bytes.NewReader(v.Value))
		d.UseNumber()
		if err := d.Decode(&value); err != nil {
			return nil, nil
		}
		return value, nil
	}
	return obj["value"], nil
}

// hydrationFailed renders a hydration error as Prefect's 400.
func hydrationFailed(err error, what string) error {
	var h *hydrationError
	if errors.As(err, &h) {
		return detail(http.StatusBadRequest, "Error hydrating "+what+" parameters: "+h.msg)
	}
	return err
}
