package schema

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Prefect's limits on variables (prefect.types): names of at most 255
// lower-case letters, digits, dashes and underscores; values whose compact
// JSON is at most 5000 characters.
const (
	MaxVariableNameLength  = 255
	MaxVariableValueLength = 5000
)

var variableNameChars = regexp.MustCompile(`^[a-z0-9_-]*$`)

// Variable is a named JSON value, read by flows and deployment templates.
type Variable struct {
	ID      uuid.UUID       `json:"id"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	Name    string          `json:"name"`
	Value   json.RawMessage `json:"value"`
	Tags    []string        `json:"tags"`
}

// VariableCreate is the body of POST /variables/.
type VariableCreate struct {
	Name  *string         `json:"name"`
	Value json.RawMessage `json:"value"`
	Tags  []string        `json:"tags"`
}

// Validate checks the name and value as Prefect's VariableCreate does and
// fills the defaults; the value is stored in its compact form.
func (v *VariableCreate) Validate() error {
	if v.Name == nil {
		return Invalid("name", "Field required")
	}
	if err := validateVariableName("name", *v.Name); err != nil {
		return err
	}
	if len(v.Value) == 0 {
		return Invalid("value", "Field required")
	}
	value, err := variableValue("value", v.Value)
	if err != nil {
		return err
	}
	v.Value = value
	v.Tags = nonNilTags(v.Tags)
	return validateTagsText("tags", v.Tags)
}

// VariableUpdate is the body of PATCH /variables/{id} and
// /variables/name/{name}: the fields present are changed. A null value is a
// value; a null name or tags list changes nothing.
type VariableUpdate struct {
	Name  *string         `json:"name"`
	Value json.RawMessage `json:"value"`
	Tags  *[]string       `json:"tags"`
}

// Validate checks the fields that are set.
func (u *VariableUpdate) Validate() error {
	if u.Name != nil {
		if err := validateVariableName("name", *u.Name); err != nil {
			return err
		}
	}
	if len(u.Value) > 0 {
		value, err := variableValue("value", u.Value)
		if err != nil {
			return err
		}
		u.Value = value
	}
	if u.Tags != nil {
		return validateTagsText("tags", *u.Tags)
	}
	return nil
}

// VariableFilter selects variables.
type VariableFilter struct {
	Operator Operator    `json:"operator"`
	ID       *IDFilter   `json:"id"`
	Name     *TextFilter `json:"name"`
	Tags     *TagsFilter `json:"tags"`
}

// VariableQuery is the body of POST /variables/filter and /variables/count.
type VariableQuery struct {
	Variables *VariableFilter `json:"variables"`
	Sort      string          `json:"sort"`
	Page
}

func validateVariableName(loc, name string) error {
	if len([]rune(name)) > MaxVariableNameLength {
		return Invalid(loc, "String should have at most "+strconv.Itoa(MaxVariableNameLength)+" characters")
	}
	if !variableNameChars.MatchString(name) {
		return Invalid(loc, "Value error, Variable name must only contain lowercase letters, numbers, and dashes or underscores.")
	}
	return nil
}

// variableValue applies Prefect's check_variable_value: the value, written
// as compact JSON the way orjson writes it (UTF-8, no HTML escaping), must
// be at most MaxVariableValueLength bytes unless it is null. It returns
// that compact form.
func variableValue(loc string, raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep integers of any size exactly as sent
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Invalid(loc, "Input should be valid JSON")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, Invalid(loc, "Value error, Variable value must be serializable to JSON")
	}
	compact := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if v != nil && len(compact) > MaxVariableValueLength {
		return nil, Invalid(loc, "Value error, Variable value must be less than "+strconv.Itoa(MaxVariableValueLength)+" characters")
	}
	if jsonHasNUL(v) {
		return nil, Invalid(loc, "Input should not contain NUL characters")
	}
	return json.RawMessage(compact), nil
}

// jsonHasNUL reports whether a decoded JSON value holds a NUL character in
// a key or string, which PostgreSQL cannot store.
func jsonHasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsRune(x, 0)
	case []any:
		for _, e := range x {
			if jsonHasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) || jsonHasNUL(e) {
				return true
			}
		}
	}
	return false
}

// validateTagsText rejects tags the databases cannot store.
func validateTagsText(loc string, tags []string) error {
	for i, t := range tags {
		if strings.ContainsRune(t, 0) {
			return Invalid(loc+"."+strconv.Itoa(i), "Input should not contain NUL characters")
		}
	}
	return nil
}
