package schema

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The UI's validation of form values against a JSON schema
// (POST /ui/schemas/validate): every error, placed under the property or
// index it concerns, in the words of Python's jsonschema.

// circularRef is the keyword of the error a too deep (circular) schema gives.
const circularRef = "$ref:circular"

// SchemaValuesValidation is the answer: errors nested by path (a message, or
// {"property"|"index", "errors"}), and whether there were none.
type SchemaValuesValidation struct {
	Errors []any `json:"errors"`
	Valid  bool  `json:"valid"`
}

// ErrSchemaCircular is a schema whose references never end.
var ErrSchemaCircular = &ParameterSchemaError{"Invalid schema: Unable to validate schema with circular references."}

// ValidateValues checks values against a (preprocessed) schema as Prefect's
// validate does for the UI: every error, anyOf failures as their own.
func ValidateValues(values any, schema map[string]any) (SchemaValuesValidation, error) {
	v := &validatorState{root: schema, every: true}
	errs := v.validate(values, schema, nil, 0)
	for _, e := range errs {
		if e.validator == circularRef {
			return SchemaValuesValidation{}, ErrSchemaCircular
		}
	}
	return errorObject(errs), nil
}

// errorEntry is one level of the error tree: a property's or an index's.
type errorEntry struct {
	Property *string `json:"property,omitempty"`
	Index    *int    `json:"index,omitempty"`
	Errors   []any   `json:"errors"`
}

func newEntry(part any) *errorEntry {
	e := &errorEntry{Errors: []any{}}
	switch p := part.(type) {
	case int:
		e.Index = &p
	case string:
		e.Property = &p
	}
	return e
}

func (e *errorEntry) is(part any) bool {
	switch p := part.(type) {
	case int:
		return e.Index != nil && *e.Index == p
	case string:
		return e.Property != nil && *e.Property == p
	}
	return false
}

// errorObject nests the errors by path as Prefect's build_error_obj: a
// required property's error one level down, under the property; an error
// at the end of a path always a new entry, the levels above shared.
func errorObject(errs []schemaError) SchemaValuesValidation {
	root := []any{}
	for _, e := range errs {
		path := append([]any{}, e.path...)
		if e.validator == "required" {
			field, _, _ := strings.Cut(e.msg, " ")
			path = append(path, strings.Trim(field, "'"))
		}
		if len(path) == 0 {
			root = append(root, e.msg)
			continue
		}
		cur := &root
		for i, part := range path {
			if i == len(path)-1 {
				entry := newEntry(part)
				entry.Errors = append(entry.Errors, e.msg)
				*cur = append(*cur, entry)
				break
			}
			var found *errorEntry
			for _, x := range *cur {
				if en, ok := x.(*errorEntry); ok && en.is(part) {
					found = en
					break
				}
			}
			if found == nil {
				found = newEntry(part)
				*cur = append(*cur, found)
			}
			cur = &found.Errors
		}
	}
	return SchemaValuesValidation{Errors: root, Valid: len(root) == 0}
}

// checkBounds checks the keywords that bound a number, a string or an array.
func checkBounds(inst any, schema map[string]any, path []any) []schemaError {
	var errs []schemaError
	fail := func(keyword, msg string) { errs = append(errs, schemaError{path, msg, keyword}) }
	switch x := inst.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil
		}
		for _, b := range []struct {
			keyword, words string
			out            func(f, limit float64) bool
		}{
			{"minimum", " is less than the minimum of ", func(f, l float64) bool { return f < l }},
			{"maximum", " is greater than the maximum of ", func(f, l float64) bool { return f > l }},
			{"exclusiveMinimum", " is less than or equal to the minimum of ", func(f, l float64) bool { return f <= l }},
			{"exclusiveMaximum", " is greater than or equal to the maximum of ", func(f, l float64) bool { return f >= l }},
		} {
			if limit, ok := schema[b.keyword].(json.Number); ok {
				if l, err := limit.Float64(); err == nil && b.out(f, l) {
					fail(b.keyword, pyRepr(x)+b.words+pyRepr(limit))
				}
			}
		}
	case string:
		n := utf8.RuneCountInString(x)
		if l, ok := intKeyword(schema, "minLength"); ok && n < l {
			fail("minLength", pyRepr(x)+tooShort(l))
		}
		if l, ok := intKeyword(schema, "maxLength"); ok && n > l {
			fail("maxLength", pyRepr(x)+tooLong(l))
		}
		if p, ok := schema["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err == nil && !re.MatchString(x) {
				fail("pattern", pyRepr(x)+" does not match "+pyRepr(p))
			}
		}
	case []any:
		if l, ok := intKeyword(schema, "minItems"); ok && len(x) < l {
			fail("minItems", pyRepr(x)+tooShort(l))
		}
		if l, ok := intKeyword(schema, "maxItems"); ok && len(x) > l {
			fail("maxItems", pyRepr(x)+tooLong(l))
		}
	}
	return errs
}

func intKeyword(schema map[string]any, key string) (int, bool) {
	n, ok := schema[key].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return int(i), err == nil
}

func tooShort(limit int) string {
	if limit == 1 {
		return " should be non-empty"
	}
	return " is too short"
}

func tooLong(limit int) string {
	if limit == 0 {
		return " is expected to be empty"
	}
	return " is too long"
}

// PreprocessSchema fixes the schemas pydantic v1 made, as Prefect does
// before validating: an optional property with a type and no default (or
// any, with allowNoneWithDefault) also takes null, a tuple's items list
// becomes prefixItems, and a block definition may be given as a reference
// ({"$ref": block document id}). The schema given is not changed.
func PreprocessSchema(schema map[string]any, allowNoneWithDefault bool) map[string]any {
	out, _ := deepCopy(schema).(map[string]any)
	fixProperties(out, allowNoneWithDefault)
	defs, _ := out["definitions"].(map[string]any)
	for _, d := range defs {
		def, ok := d.(map[string]any)
		if !ok {
			continue
		}
		fixProperties(def, allowNoneWithDefault)
		title, _ := def["title"].(string)
		if _, block := def["block_type_slug"]; block && title != "" {
			defs[title] = map[string]any{"oneOf": []any{def, blockReference()}}
		}
	}
	return out
}

func fixProperties(obj map[string]any, allowNoneWithDefault bool) {
	props, _ := obj["properties"].(map[string]any)
	required := map[string]bool{}
	if req, ok := obj["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	for key, p := range props {
		prop, ok := p.(map[string]any)
		if !ok {
			continue
		}
		_, hasDefault := prop["default"]
		if t, typed := prop["type"]; typed && !required[key] && t != "null" && (!hasDefault || allowNoneWithDefault) {
			prop["anyOf"] = []any{map[string]any{"type": t}, map[string]any{"type": "null"}}
			delete(prop, "type")
		}
		if items, ok := prop["items"].([]any); ok && len(items) > 0 {
			if _, has := prop["prefixItems"]; !has {
				prop["prefixItems"] = items
				delete(prop, "items")
			}
		}
		if _, nested := prop["properties"]; nested {
			fixProperties(prop, allowNoneWithDefault)
		}
	}
}

// blockReference is a block given by its document's id or by a reference.
func blockReference() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{"$ref": map[string]any{"oneOf": []any{
			map[string]any{"type": "string", "format": "uuid"},
			map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}, "minProperties": json.Number("1")},
		}}},
		"required": []any{"$ref"},
	}
}

// SchemaValuesQuery is the body of POST /ui/schemas/validate.
type SchemaValuesQuery struct {
	Schema json.RawMessage `json:"schema"`
	Values json.RawMessage `json:"values"`
}

// EmbeddedBody: both are Body parameters of their own in Prefect.
func (SchemaValuesQuery) EmbeddedBody() {}

// DecodeObject reads a JSON object with its numbers kept exact, as the
// validator wants them; false for anything but an object.
func DecodeObject(raw json.RawMessage) (map[string]any, bool) {
	var m map[string]any
	if err := decodeNumbers(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}
