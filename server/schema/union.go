package schema

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Prefect's trigger and action unions are plain pydantic unions, not
// discriminated ones: pydantic tries every member ("smart mode") and, when
// none fits, lists every member's errors under a location naming the member.
// This server reports one of them: the error of the member the object's
// "type" names, or, for a type no member has, the single error pydantic
// gives a discriminated union.

// unionMember is one model of such a union.
type unionMember[T any] struct {
	tag   string   // its Literal "type"
	label string   // how pydantic's error locations name it
	keys  []string // the keys it declares besides "type"
	parse func(obj map[string]json.RawMessage) (T, error)
}

// parseUnion validates one JSON value against members. An object whose
// "type" names a member is that member (the others fail on their type). An
// object without a type is what smart mode makes of it: of the members that
// validate it, the one with the most of its keys set, the first on a tie;
// when none does, the first member's error. Errors are located relative to
// the value.
func parseUnion[T any](raw json.RawMessage, members []unionMember[T]) (T, error) {
	var zero T
	obj, ok := jsonObject(raw)
	if !ok {
		return zero, Invalid("", "Input should be a valid dictionary or object to extract fields from")
	}
	if tag, sent := obj["type"]; sent {
		var name string
		_ = json.Unmarshal(tag, &name)
		for _, m := range members {
			if name == m.tag && isJSONString(tag) {
				out, err := m.parse(obj)
				return out, withinLoc(m.label, err)
			}
		}
		tags := make([]string, len(members))
		for i, m := range members {
			tags[i] = "'" + m.tag + "'"
		}
		shown := name
		if !isJSONString(tag) {
			shown = string(bytes.TrimSpace(tag))
		}
		return zero, Invalid("", "Input tag '"+shown+"' found using 'type' does not match any of the expected tags: "+strings.Join(tags, ", "))
	}
	var best T
	bestSet, firstErr := -1, error(nil)
	for _, m := range members {
		out, err := m.parse(obj)
		if err != nil {
			if firstErr == nil {
				firstErr = withinLoc(m.label, err)
			}
			continue
		}
		set := 0
		for _, k := range m.keys {
			if _, ok := obj[k]; ok {
				set++
			}
		}
		if set > bestSet {
			best, bestSet = out, set
		}
	}
	if bestSet < 0 {
		return zero, firstErr
	}
	return best, nil
}

// withinLoc places a validation error located relative to a value under
// prefix (the value's place in its parent); other errors pass unchanged.
func withinLoc(prefix string, err error) error {
	verr, ok := err.(*ValidationError)
	if !ok || prefix == "" {
		return err
	}
	loc := prefix
	if verr.Loc != "" {
		loc += "." + verr.Loc
	}
	return &ValidationError{Loc: loc, Msg: verr.Msg}
}

// jsonObject decodes raw as an object of raw values; ok is false for
// anything else (null included).
func jsonObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, false
	}
	return obj, true
}

func isJSONString(raw json.RawMessage) bool {
	return len(raw) > 0 && raw[0] == '"'
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
