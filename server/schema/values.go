package schema

import (
	"encoding/json"
	"strconv"
	"strings"
)

// emptyObject is the JSON written for an unset object field.
var emptyObject = json.RawMessage(`{}`)

func objectOrEmpty(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || string(v) == "null" {
		return emptyObject
	}
	return v
}

func nonNilTags(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}

// validateName applies Prefect's rule for object names: no slashes or
// percent signs, which would break URL routes.
func validateName(loc, name string) error {
	if strings.ContainsAny(name, "/%") {
		return Invalid(loc, "Name "+quote(name)+" contains an invalid character. Must not contain any of: ['/', '%'].")
	}
	return nil
}

// IsJSONObject reports whether raw is a JSON object (or absent).
func IsJSONObject(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || strings.HasPrefix(s, "{")
}

// MergeObjects merges JSON objects shallowly, later keys winning (Python's
// {**a, **b}); an argument that is not an object adds nothing.
func MergeObjects(objs ...json.RawMessage) json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, o := range objs {
		var m map[string]json.RawMessage
		if json.Unmarshal(o, &m) == nil {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	b, _ := json.Marshal(out) // raw values that decoded always encode
	return b
}

// LabelsOf builds a label object from key, value pairs.
func LabelsOf(kv ...string) json.RawMessage {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m) // strings always encode
	return b
}

// MaxLabelsDepth bounds how deep a run's labels may nest, the labels object
// itself counting as one level. SQLite's JSON functions, which merge labels
// on PATCH /flow_runs/{id}/labels, refuse documents nested deeper than 1000;
// Prefect's own server fails on such bodies too (Python's recursion limit).
const MaxLabelsDepth = 1000

// ValidateLabelsDepth refuses labels nested deeper than MaxLabelsDepth; loc
// is where they sit in the body ("" for the whole body).
func ValidateLabelsDepth(loc string, labels json.RawMessage) error {
	if JSONDepth(labels) > MaxLabelsDepth {
		return Invalid(loc, "Labels may nest at most "+strconv.Itoa(MaxLabelsDepth)+" levels deep")
	}
	return nil
}

// JSONDepth is how deeply a JSON document nests objects and arrays (0 for a
// scalar). It scans the text without decoding it.
func JSONDepth(doc []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range doc {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}
