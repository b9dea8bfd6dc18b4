package schema

import (
	"encoding/json"
	"maps"
	"strconv"

	"github.com/google/uuid"
)

// Trigger types.
const (
	TriggerEvent    = "event"
	TriggerCompound = "compound"
	TriggerSequence = "sequence"
)

// Postures of an event trigger: Reactive fires on the expected events,
// Proactive on their absence.
const (
	PostureReactive  = "Reactive"
	PostureProactive = "Proactive"
)

// minProactiveWithin is the shortest window of a proactive trigger, in
// seconds, and its default.
const minProactiveWithin = 10.0

// Trigger is what an automation responds to: an event trigger, or a
// compound or sequence trigger of other triggers. It decodes in Prefect's
// union rules (see union.go) with Prefect's defaults filled in, and writes
// itself in the shape of its type, as Prefect does. A value that is no
// trigger decodes without error; Check reports why.
type Trigger struct {
	Type string
	ID   uuid.UUID

	// Event triggers: events named in Expect (After: seen first; trailing *
	// wildcards) on resources whose labels Match (and whose related
	// resources MatchRelated: one resource specification or a list, both
	// kept as sent), counted separately for each value of the ForEach
	// labels; Threshold of them within Within seconds fire a Reactive
	// trigger, fewer a Proactive one.
	Match        json.RawMessage
	MatchRelated json.RawMessage
	After        []string
	Expect       []string
	ForEach      []string
	Posture      string
	Threshold    int
	// Within is the window in seconds; nil only for a composite trigger
	// sent with none.
	Within *float64

	// Composite triggers: their children and, for a compound trigger, how
	// many must fire: a number, "any" or "all".
	Triggers []Trigger
	Require  json.RawMessage

	sent    bool  // the body had the key, null included
	invalid error // why it is no trigger, located relative to it
}

// UnmarshalJSON validates the trigger; see Check.
func (t *Trigger) UnmarshalJSON(b []byte) error {
	*t = parseTrigger(b)
	return nil
}

// Check reports the error of a trigger at loc: not sent, or not a trigger.
func (t Trigger) Check(loc string) error {
	if !t.sent {
		return Invalid(loc, "Field required")
	}
	return withinLoc(loc, t.invalid)
}

// All returns the trigger and every trigger under it, depth first.
func (t Trigger) All() []Trigger {
	out := []Trigger{t}
	for _, c := range t.Triggers {
		out = append(out, c.All()...)
	}
	return out
}

// ResetIDs gives the trigger and every trigger under it a new id, as
// Prefect does to what a client sends.
func (t *Trigger) ResetIDs() {
	t.ID = uuid.New()
	for i := range t.Triggers {
		t.Triggers[i].ResetIDs()
	}
}

// MarshalJSON writes the fields of the trigger's type, in Prefect's order.
func (t Trigger) MarshalJSON() ([]byte, error) {
	switch t.Type {
	case TriggerEvent:
		within := 0.0
		if t.Within != nil {
			within = *t.Within
		}
		return json.Marshal(struct {
			Type         string          `json:"type"`
			ID           uuid.UUID       `json:"id"`
			Match        json.RawMessage `json:"match"`
			MatchRelated json.RawMessage `json:"match_related"`
			After        []string        `json:"after"`
			Expect       []string        `json:"expect"`
			ForEach      []string        `json:"for_each"`
			Posture      string          `json:"posture"`
			Threshold    int             `json:"threshold"`
			Within       float64         `json:"within"`
		}{t.Type, t.ID, t.Match, t.MatchRelated, t.After, t.Expect, t.ForEach, t.Posture, t.Threshold, within})
	case TriggerCompound:
		return json.Marshal(struct {
			Type     string          `json:"type"`
			ID       uuid.UUID       `json:"id"`
			Triggers []Trigger       `json:"triggers"`
			Within   *float64        `json:"within"`
			Require  json.RawMessage `json:"require"`
		}{t.Type, t.ID, t.Triggers, t.Within, t.Require})
	case TriggerSequence:
		return json.Marshal(struct {
			Type     string    `json:"type"`
			ID       uuid.UUID `json:"id"`
			Triggers []Trigger `json:"triggers"`
			Within   *float64  `json:"within"`
		}{t.Type, t.ID, t.Triggers, t.Within})
	}
	return []byte("null"), nil
}

// triggerMembers is Prefect's ServerTriggerTypes, in its order.
var triggerMembers []unionMember[Trigger]

func init() {
	// Assigned here: the composite parsers read the union themselves.
	triggerMembers = []unionMember[Trigger]{
		{TriggerEvent, "EventTrigger",
			[]string{"id", "match", "match_related", "after", "expect", "for_each", "posture", "threshold", "within"}, parseEventTrigger},
		{TriggerCompound, "function-after[validate_require(), CompoundTrigger]",
			[]string{"id", "triggers", "within", "require"}, parseCompoundTrigger},
		{TriggerSequence, "SequenceTrigger",
			[]string{"id", "triggers", "within"}, parseSequenceTrigger},
	}
}

func parseTrigger(raw json.RawMessage) Trigger {
	t, err := parseUnion(raw, triggerMembers)
	t.sent, t.invalid = true, err
	return t
}

func parseEventTrigger(obj map[string]json.RawMessage) (Trigger, error) {
	t := Trigger{Type: TriggerEvent, ID: uuid.New(), Match: emptyObject, MatchRelated: emptyObject,
		After: []string{}, Expect: []string{}, ForEach: []string{}, Threshold: 1, Within: new(float64)}
	// Prefect's before-validator: a null window is refused, and a proactive
	// one is at least 10 seconds, 10 when unset or zero. A window that does
	// not parse is left to the field's own error.
	var within *float64
	if raw, ok := obj["within"]; ok {
		if isJSONNull(raw) {
			return t, Invalid("", "Value error, `within` should be a valid timedelta")
		}
		if d, err := parseInterval(raw); err == nil {
			s := d.Seconds()
			within = &s
		}
	}
	if string(obj["posture"]) == `"`+PostureProactive+`"` {
		switch {
		case within == nil || *within == 0:
			obj = maps.Clone(obj) // the other members of the union read it too
			obj["within"] = json.RawMessage(strconv.FormatFloat(minProactiveWithin, 'f', -1, 64))
		case *within < minProactiveWithin:
			return t, Invalid("", "Value error, `within` for Proactive triggers must be greater than or equal to 10 seconds")
		}
	}
	r := fieldReader{obj: obj}
	r.id("id", &t.ID, false)
	if r.has("match", false) {
		if spec, err := resourceSpec(obj["match"]); err != nil {
			r.fail("match", err.Error())
		} else {
			t.Match = spec
		}
	}
	if r.has("match_related", false) {
		if spec, err := resourceSpecs(obj["match_related"]); err != nil {
			r.fail("match_related", err.Error())
		} else {
			t.MatchRelated = spec
		}
	}
	r.strSet("after", &t.After)
	r.strSet("expect", &t.Expect)
	r.strSet("for_each", &t.ForEach)
	if r.has("posture", true) {
		_ = json.Unmarshal(obj["posture"], &t.Posture)
		if t.Posture != PostureReactive && t.Posture != PostureProactive {
			r.fail("posture", "Input should be Posture.Reactive or Posture.Proactive")
		}
	}
	r.integer("threshold", &t.Threshold)
	r.seconds("within", t.Within)
	if r.err == nil && *t.Within < 0 {
		r.fail("within", "Input should be greater than or equal to 0 seconds")
	}
	return t, r.err
}

func parseCompoundTrigger(obj map[string]json.RawMessage) (Trigger, error) {
	t, r := compositeTrigger(TriggerCompound, obj)
	var n int
	if r.has("require", true) {
		raw := obj["require"]
		var word string
		switch {
		case json.Unmarshal(raw, &word) == nil && (word == "any" || word == "all"):
			t.Require = compactJSON(raw)
		case isJSONString(raw):
			r.fail("require.literal['any','all']", "Input should be 'any' or 'all'")
		default:
			sub := fieldReader{obj: obj}
			if sub.integer("require", &n); sub.err != nil {
				r.fail("require.int", "Input should be a valid integer")
			} else {
				t.Require = json.RawMessage(strconv.Itoa(n))
			}
		}
	}
	if r.err != nil {
		return t, r.err
	}
	// Prefect's validate_require, once the fields are valid.
	if word := string(t.Require); word != `"any"` && word != `"all"` {
		if n < 1 {
			return t, Invalid("", "Value error, require must be at least 1")
		}
		if n > len(t.Triggers) {
			return t, Invalid("", "Value error, require must be less than or equal to the number of triggers")
		}
	}
	return t, nil
}

func parseSequenceTrigger(obj map[string]json.RawMessage) (Trigger, error) {
	t, r := compositeTrigger(TriggerSequence, obj)
	return t, r.err
}

// compositeTrigger reads the fields compound and sequence triggers share:
// id, triggers and within (which may be null, and has no bound).
func compositeTrigger(typ string, obj map[string]json.RawMessage) (Trigger, *fieldReader) {
	t := Trigger{Type: typ, ID: uuid.New(), Triggers: []Trigger{}}
	r := &fieldReader{obj: obj}
	r.id("id", &t.ID, false)
	if r.has("triggers", true) {
		var items []json.RawMessage
		if json.Unmarshal(obj["triggers"], &items) != nil || items == nil {
			r.fail("triggers", "Input should be a valid list")
		}
		for i, item := range items {
			child, err := parseUnion(item, triggerMembers)
			if err != nil && r.err == nil {
				r.err = withinLoc("triggers."+strconv.Itoa(i), err)
			}
			child.sent = true
			t.Triggers = append(t.Triggers, child)
		}
	}
	if r.has("within", true) && !isJSONNull(obj["within"]) {
		t.Within = new(float64)
		r.seconds("within", t.Within)
	}
	return t, r
}

// resourceSpec checks a resource specification, labels to a value or a
// list of values, and returns it as sent (compacted).
func resourceSpec(raw json.RawMessage) (json.RawMessage, error) {
	obj, ok := jsonObject(raw)
	if !ok {
		return nil, errString("Input should be a valid dictionary")
	}
	for _, v := range obj {
		var one string
		var many []string
		if json.Unmarshal(v, &one) != nil && (json.Unmarshal(v, &many) != nil || isJSONNull(v)) {
			return nil, errString("Input should be a valid string or a list of strings, for every label")
		}
	}
	return compactJSON(raw), nil
}

// resourceSpecs checks one resource specification or a list of them.
func resourceSpecs(raw json.RawMessage) (json.RawMessage, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil && list != nil {
		for _, item := range list {
			if _, err := resourceSpec(item); err != nil {
				return nil, err
			}
		}
		return compactJSON(raw), nil
	}
	return resourceSpec(raw)
}

type errString string

func (e errString) Error() string { return string(e) }
