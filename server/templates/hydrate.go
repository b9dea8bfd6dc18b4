package templates

import (
	"bytes"
	"encoding/json"
)

// Hydration resolves the "__prefect_kind" placeholders of parameters, as
// Prefect's hydrate (utilities/schema_tools/hydration.py) does: "none"
// passes its value through, "json" parses its text, "jinja" renders its
// template and "workspace_variable" gives a variable's value. Values are
// decoded JSON (json.Number for numbers).

// HydrationError is a placeholder that cannot be resolved; Message is
// Prefect's text and Kind its class name.
type HydrationError struct {
	Kind    string
	Message string
}

func (e *HydrationError) Error() string { return e.Message }

// ValidJinja is a template left unrendered (RenderJinja off).
type ValidJinja struct{ Template string }

// WorkspaceVariable is a variable left unread (RenderVariables off).
type WorkspaceVariable struct{ Name string }

// removed marks a placeholder that disappears from its parent.
type removed struct{}

// HydrationContext is Prefect's HydrationContext.
type HydrationContext struct {
	// RaiseOnError stops at the first error instead of leaving it in place.
	RaiseOnError bool
	RenderJinja  bool
	// Render renders a template with JinjaContext; nil means the sandbox's
	// Renderer{}.Render.
	Render       func(src string, context map[string]any) (string, error)
	JinjaContext map[string]any
	// RenderVariables reads variables through Variable (found false: the
	// variable does not exist).
	RenderVariables bool
	Variable        func(name string) (value any, found bool, err error)
}

// Hydrate resolves obj's placeholders. A *HydrationError is returned when
// RaiseOnError is set, and left in place of its value otherwise; err is
// also what Variable fails with. An object that disappears entirely is {}.
func Hydrate(obj any, hc HydrationContext) (any, error) {
	out, err := hc.hydrate(obj)
	if _, gone := out.(removed); gone {
		out = map[string]any{}
	}
	return out, err
}

func (hc HydrationContext) hydrate(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if kind, ok := x["__prefect_kind"]; ok {
			res, err := hc.kind(kind, x)
			if err != nil {
				return nil, err
			}
			if he, isErr := res.(*HydrationError); isErr && hc.RaiseOnError {
				return nil, he
			}
			return res, nil
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			h, err := hc.hydrate(e)
			if err != nil {
				return nil, err
			}
			if _, gone := h.(removed); !gone {
				out[k] = h
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			h, err := hc.hydrate(e)
			if err != nil {
				return nil, err
			}
			if _, gone := h.(removed); !gone {
				out = append(out, h)
			}
		}
		return out, nil
	}
	return v, nil
}

// isPlaceholder says whether v is one of hydration's own values.
func isPlaceholder(v any) bool {
	switch v.(type) {
	case *HydrationError, ValidJinja, WorkspaceVariable, removed:
		return true
	}
	return false
}

func (hc HydrationContext) kind(kind any, obj map[string]any) (any, error) {
	switch kind {
	case "none":
		val, ok := obj["value"]
		if !ok {
			return &HydrationError{"ValueNotFound", "Missing 'value' key in __prefect object"}, nil
		}
		return hc.hydrate(val)
	case "json":
		val, ok := obj["value"]
		if !ok {
			return removed{}, nil
		}
		if m, isMap := val.(map[string]any); isMap {
			h, err := hc.hydrate(m)
			if err != nil || isPlaceholder(h) {
				return h, err
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
			return &HydrationError{"InvalidJSON", "Invalid JSON: " + err.Error()}, nil
		}
		if d.More() {
			return &HydrationError{"InvalidJSON", "Invalid JSON: Extra data"}, nil
		}
		return parsed, nil
	case "jinja":
		tpl, ok := obj["template"]
		if !ok {
			return &HydrationError{"TemplateNotFound", "Missing 'template' key in __prefect object"}, nil
		}
		if m, isMap := tpl.(map[string]any); isMap {
			h, err := hc.hydrate(m)
			if err != nil || isPlaceholder(h) {
				return h, err
			}
			tpl = h
		}
		src, _ := tpl.(string)
		if serr := Validate(src); serr != nil {
			return &HydrationError{"InvalidJinja", "Invalid jinja: " + serr.Message}, nil
		}
		if !hc.RenderJinja {
			return ValidJinja{Template: src}, nil
		}
		render := hc.Render
		if render == nil {
			render = Renderer{}.Render
		}
		out, err := render(src, hc.JinjaContext)
		if err != nil {
			return &HydrationError{"InvalidJinja", "Invalid jinja: " + err.Error()}, nil
		}
		return out, nil
	case "workspace_variable":
		name, ok := obj["variable_name"]
		if !ok {
			return removed{}, nil
		}
		if m, isMap := name.(map[string]any); isMap {
			h, err := hc.hydrate(m)
			if err != nil || isPlaceholder(h) {
				return h, err
			}
			name = h
		}
		s, _ := name.(string)
		if !hc.RenderVariables {
			return WorkspaceVariable{Name: s}, nil
		}
		value, found, err := hc.Variable(s)
		if err != nil {
			return nil, err
		}
		if !found {
			return &HydrationError{"WorkspaceVariableNotFound", "Variable '" + s + "' not found in workspace."}, nil
		}
		return value, nil
	}
	return obj["value"], nil
}

// Placeholders collects the placeholders a hydration without rendering
// left in v: Prefect's _collect_placeholders, which looks into objects and
// into lists only one level deep.
func Placeholders(v any) []any {
	if isPlaceholder(v) {
		return []any{v}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var out []any
	for _, e := range m {
		switch x := e.(type) {
		case map[string]any:
			out = append(out, Placeholders(x)...)
		case []any:
			for _, item := range x {
				if im, isMap := item.(map[string]any); isMap {
					out = append(out, Placeholders(im)...)
				} else if isPlaceholder(item) {
					out = append(out, item)
				}
			}
		default:
			if isPlaceholder(x) {
				out = append(out, x)
			}
		}
	}
	return out
}
