package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ParameterSchemaError says why parameters do not conform to a deployment's
// parameter_openapi_schema, in the words of Prefect's validator (Python's
// jsonschema): "Validation failed for field 'x'. Failure reason: 'a' is not
// of type 'integer'".
type ParameterSchemaError struct{ Msg string }

func (e *ParameterSchemaError) Error() string { return e.Msg }

// ValidateParameters checks params against a JSON schema as Prefect does
// before creating a run from a deployment with enforce_parameter_schema. It
// is a small subset of JSON Schema, enough for the schemas Prefect generates
// from flow signatures: type, required, properties, items, enum, const,
// anyOf/oneOf/allOf and local $refs ("#/definitions/..", "#/$defs/..").
// Other keywords are not checked.
//
// With ignoreRequired, missing properties are not errors (Prefect's
// ignore_required, used when parameters are partial). With nullDefaults,
// optional properties without a default also accept null (Prefect's
// preprocess_schema fix for pydantic v1 schemas).
func ValidateParameters(params, schemaRaw json.RawMessage, ignoreRequired, nullDefaults bool) error {
	var root map[string]any
	if len(bytes.TrimSpace(schemaRaw)) == 0 || string(schemaRaw) == "null" {
		return nil
	}
	if err := decodeNumbers(schemaRaw, &root); err != nil {
		return &ParameterSchemaError{"Validation failed. Failure reason: the parameter schema is not a JSON object"}
	}
	var value any = map[string]any{}
	if len(bytes.TrimSpace(params)) > 0 && string(params) != "null" {
		if err := decodeNumbers(params, &value); err != nil {
			return &ParameterSchemaError{"Validation failed. Failure reason: parameters are not valid JSON"}
		}
	}
	v := &validatorState{root: root, ignoreRequired: ignoreRequired, nullDefaults: nullDefaults}
	errs := v.validate(value, root, nil, 0)
	if len(errs) == 0 {
		return nil
	}
	best := errs[0]
	for _, e := range errs[1:] {
		if len(e.path) < len(best.path) {
			best = e
		}
	}
	msg := "Validation failed."
	if len(best.path) > 0 {
		msg = "Validation failed for field " + pyRepr(jsonPath(best.path)) + "."
	}
	return &ParameterSchemaError{msg + " Failure reason: " + best.msg}
}

func decodeNumbers(raw json.RawMessage, dst any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(dst)
}

type schemaError struct {
	path      []any // property names (string) and indexes (int)
	msg       string
	validator string // the keyword that failed
}

type validatorState struct {
	root           map[string]any
	ignoreRequired bool
	nullDefaults   bool
	// every is Python's iter_errors (every error, an anyOf's as its own);
	// otherwise one error is wanted and an anyOf reports its first branch's.
	every bool
}

const maxSchemaDepth = 64

func (v *validatorState) validate(inst any, schema map[string]any, path []any, depth int) []schemaError {
	if depth > maxSchemaDepth {
		return []schemaError{{path, "the schema has circular references", circularRef}}
	}
	var errs []schemaError
	keyword := ""
	fail := func(msg string) { errs = append(errs, schemaError{path, msg, keyword}) }

	if ref, ok := schema["$ref"].(string); ok {
		if target := v.resolve(ref); target != nil {
			errs = append(errs, v.validate(inst, target, path, depth+1)...)
		}
	}
	if t, ok := schema["type"]; ok {
		keyword = "type"
		if !matchesType(inst, t) {
			fail(pyRepr(inst) + " is not of type " + typeNames(t))
			return errs
		}
	}
	if enum, ok := schema["enum"].([]any); ok {
		keyword = "enum"
		found := false
		for _, e := range enum {
			if jsonEqual(inst, e) {
				found = true
				break
			}
		}
		if !found {
			fail(pyRepr(inst) + " is not one of " + pyRepr(enum))
		}
	}
	if c, ok := schema["const"]; ok && !jsonEqual(inst, c) {
		keyword = "const"
		fail(pyRepr(c) + " was expected")
	}
	errs = append(errs, checkBounds(inst, schema, path)...)
	if all, ok := schema["allOf"].([]any); ok {
		for _, sub := range all {
			if m, ok := sub.(map[string]any); ok {
				errs = append(errs, v.validate(inst, m, path, depth+1)...)
			}
		}
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		branches, ok := schema[key].([]any)
		if !ok || len(branches) == 0 {
			continue
		}
		var firstErrs []schemaError
		matched := 0
		for _, sub := range branches {
			m, ok := sub.(map[string]any)
			if !ok {
				continue
			}
			be := v.validate(inst, m, path, depth+1)
			if len(be) == 0 {
				matched++
			} else if firstErrs == nil {
				firstErrs = be
			}
		}
		keyword = key
		switch {
		case matched == 0 && len(firstErrs) > 0 && v.every:
			fail(pyRepr(inst) + " is not valid under any of the given schemas")
		case matched == 0 && len(firstErrs) > 0:
			// Python's best_match descends into the branches: report the
			// first branch's complaint.
			errs = append(errs, firstErrs[0])
		case key == "oneOf" && matched > 1:
			fail(pyRepr(inst) + " is valid under each of the given schemas")
		}
	}
	switch x := inst.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		required := map[string]bool{}
		if req, ok := schema["required"].([]any); ok {
			keyword = "required"
			for _, r := range req {
				if name, ok := r.(string); ok {
					required[name] = true
					if _, present := x[name]; !present && !v.ignoreRequired {
						fail(pyRepr(name) + " is a required property")
					}
				}
			}
		}
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			val, present := x[name]
			sub, ok := props[name].(map[string]any)
			if !present || !ok {
				continue
			}
			if val == nil && v.nullDefaults && !required[name] {
				if _, hasDefault := sub["default"]; !hasDefault {
					continue // pydantic v1 optional field: null is fine
				}
			}
			errs = append(errs, v.validate(val, sub, append(append([]any{}, path...), name), depth+1)...)
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, el := range x {
				errs = append(errs, v.validate(el, items, append(append([]any{}, path...), i), depth+1)...)
			}
		}
	}
	return errs
}

// resolve finds a local reference.
func (v *validatorState) resolve(ref string) map[string]any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = v.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	m, _ := cur.(map[string]any)
	return m
}

func matchesType(inst any, t any) bool {
	switch tt := t.(type) {
	case string:
		return isType(inst, tt)
	case []any:
		for _, one := range tt {
			if s, ok := one.(string); ok && isType(inst, s) {
				return true
			}
		}
		return false
	}
	return true
}

func isType(inst any, t string) bool {
	switch t {
	case "null":
		return inst == nil
	case "boolean":
		_, ok := inst.(bool)
		return ok
	case "string":
		_, ok := inst.(string)
		return ok
	case "object":
		_, ok := inst.(map[string]any)
		return ok
	case "array":
		_, ok := inst.([]any)
		return ok
	case "number":
		_, ok := inst.(json.Number)
		return ok
	case "integer":
		n, ok := inst.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
	}
	return true
}

func typeNames(t any) string {
	switch tt := t.(type) {
	case string:
		return pyRepr(tt)
	case []any:
		parts := make([]string, len(tt))
		for i, one := range tt {
			parts[i] = pyRepr(one)
		}
		return strings.Join(parts, ", ")
	}
	return pyRepr(t)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(normalizeNumbers(a))
	y, _ := json.Marshal(normalizeNumbers(b))
	return bytes.Equal(x, y)
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeNumbers(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeNumbers(e)
		}
		return out
	}
	return v
}

// jsonPath renders a path the way Python's jsonschema json_path does,
// without its leading "$.": a.b[0].c
func jsonPath(path []any) string {
	var b strings.Builder
	for i, p := range path {
		switch x := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(x) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, x)
		}
	}
	return b.String()
}

// pyRepr renders a JSON value as Python's repr would, for messages that
// must read as Prefect's.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		if strings.Contains(x, "'") && !strings.Contains(x, `"`) {
			return `"` + x + `"`
		}
		return "'" + strings.ReplaceAll(strings.ReplaceAll(x, `\`, `\\`), "'", `\'`) + "'"
	case json.Number:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
