package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"github.com/google/uuid"
)

// fieldReader reads the keys of one JSON object as a pydantic model reads
// its fields: each call reads one key into dst, leaving dst's default when
// the key is absent. Calls are made in the model's declaration order and
// the first error is kept, which is the first one pydantic lists; locations
// are relative to the object.
type fieldReader struct {
	obj map[string]json.RawMessage
	err error
}

func (r *fieldReader) fail(loc, msg string) {
	if r.err == nil {
		r.err = Invalid(loc, msg)
	}
}

// has reports whether key was sent; a required key that was not is an error.
func (r *fieldReader) has(key string, required bool) bool {
	_, ok := r.obj[key]
	if !ok && required {
		r.fail(key, "Field required")
	}
	return ok
}

func (r *fieldReader) str(key string, dst *string, required bool) {
	if !r.has(key, required) {
		return
	}
	if json.Unmarshal(r.obj[key], dst) != nil || isJSONNull(r.obj[key]) {
		r.fail(key, "Input should be a valid string")
	}
}

// optStr reads a str | None.
func (r *fieldReader) optStr(key string, dst **string) {
	if !r.has(key, false) || isJSONNull(r.obj[key]) {
		return
	}
	var s string
	if json.Unmarshal(r.obj[key], &s) != nil {
		r.fail(key, "Input should be a valid string")
		return
	}
	*dst = &s
}

func (r *fieldReader) boolean(key string, dst *bool) {
	if !r.has(key, false) {
		return
	}
	if json.Unmarshal(r.obj[key], dst) != nil || isJSONNull(r.obj[key]) {
		r.fail(key, "Input should be a valid boolean")
	}
}

func (r *fieldReader) integer(key string, dst *int) {
	if !r.has(key, false) {
		return
	}
	var f float64
	switch {
	case json.Unmarshal(r.obj[key], &f) != nil || isJSONNull(r.obj[key]):
		r.fail(key, "Input should be a valid integer")
	case f != math.Trunc(f):
		r.fail(key, "Input should be a valid integer, got a number with a fractional part")
	case math.Abs(f) > math.MaxInt32:
		// Far past any count of events; keeps the value exact on both backends.
		r.fail(key, "Input should be less than or equal to "+strconv.Itoa(math.MaxInt32))
	default:
		*dst = int(f)
	}
}

func (r *fieldReader) id(key string, dst *uuid.UUID, required bool) {
	if !r.has(key, required) {
		return
	}
	if id, ok := r.uuidAt(key); ok {
		*dst = id
	}
}

// optID reads a UUID | None.
func (r *fieldReader) optID(key string, dst **uuid.UUID) {
	if !r.has(key, false) || isJSONNull(r.obj[key]) {
		return
	}
	if id, ok := r.uuidAt(key); ok {
		*dst = &id
	}
}

func (r *fieldReader) uuidAt(key string) (uuid.UUID, bool) {
	var s string
	if json.Unmarshal(r.obj[key], &s) != nil || isJSONNull(r.obj[key]) {
		r.fail(key, "UUID input should be a string, bytes or UUID object")
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	if err != nil {
		r.fail(key, "Input should be a valid UUID")
		return uuid.Nil, false
	}
	return id, true
}

// seconds reads a timedelta (seconds, or an ISO 8601 duration) as seconds.
func (r *fieldReader) seconds(key string, dst *float64) {
	if !r.has(key, false) {
		return
	}
	d, err := parseInterval(r.obj[key])
	if err != nil || isJSONNull(r.obj[key]) {
		r.fail(key, "Input should be a valid timedelta")
		return
	}
	*dst = d.Seconds()
}

// object reads a dict kept as sent; nullable says None is allowed.
func (r *fieldReader) object(key string, dst *json.RawMessage, nullable bool) {
	if !r.has(key, false) {
		return
	}
	raw := r.obj[key]
	if nullable && isJSONNull(raw) {
		*dst = json.RawMessage("null")
		return
	}
	if _, ok := jsonObject(raw); !ok {
		r.fail(key, "Input should be a valid dictionary")
		return
	}
	*dst = compactJSON(raw)
}

// strSet reads a set[str]: a list of strings, each kept once, in the order
// first sent (a Python set has no order to keep).
func (r *fieldReader) strSet(key string, dst *[]string) {
	if !r.has(key, false) {
		return
	}
	var items []json.RawMessage
	if json.Unmarshal(r.obj[key], &items) != nil || items == nil {
		r.fail(key, "Input should be a valid set")
		return
	}
	out := []string{}
	seen := map[string]bool{}
	for i, item := range items {
		var s string
		if json.Unmarshal(item, &s) != nil || isJSONNull(item) {
			r.fail(key+"."+strconv.Itoa(i), "Input should be a valid string")
			return
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	*dst = out
}

// compactJSON is raw without insignificant whitespace (raw is valid JSON).
func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}
