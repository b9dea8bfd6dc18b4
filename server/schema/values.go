package schema

import (
	"encoding/json"
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
