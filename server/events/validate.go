package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Limits bound what one event may carry (PREFECT_SERVER_EVENTS_MAXIMUM_*).
// Zero fields take Prefect's defaults.
type Limits struct {
	// MaxSizeBytes bounds an event's JSON as received; default 1,500,000.
	MaxSizeBytes int64
	// MaxRelatedResources bounds len(related); default 100.
	MaxRelatedResources int
	// MaxLabelsPerResource bounds the labels of the resource and of each
	// related resource; default 500.
	MaxLabelsPerResource int
	// MaxNameLength bounds the event name, in characters; default 1024.
	MaxNameLength int
}

// WithDefaults fills unset limits with Prefect's defaults.
func (l Limits) WithDefaults() Limits {
	l.MaxSizeBytes = cmp.Or(l.MaxSizeBytes, 1_500_000)
	l.MaxRelatedResources = cmp.Or(l.MaxRelatedResources, 100)
	l.MaxLabelsPerResource = cmp.Or(l.MaxLabelsPerResource, 500)
	l.MaxNameLength = cmp.Or(l.MaxNameLength, 1024)
	return l
}

// InvalidEventError says why an event was refused. The HTTP layer renders it
// as a 422; errors.As also converts it to a *schema.ValidationError whose Loc
// is "<index>.<field>", so the generic 422 rendering works unchanged.
type InvalidEventError struct {
	// Index is the event's position in a POST /api/events batch, or -1 for a
	// single event (WebSocket) or the body as a whole.
	Index int
	// Field is the offending field as a dotted path ("related.3"), or "" when
	// the event as a whole is at fault (its size, its JSON).
	Field string
	// Reason is Prefect's message where Prefect has one.
	Reason string
	// TooLarge marks an event over MaxSizeBytes: the /events/in socket drops
	// it and reads on, as Prefect's publisher does.
	TooLarge bool
}

func (e *InvalidEventError) Error() string {
	if loc := e.loc(); loc != "" {
		return loc + ": " + e.Reason
	}
	return e.Reason
}

func (e *InvalidEventError) loc() string {
	var parts []string
	if e.Index >= 0 {
		parts = append(parts, strconv.Itoa(e.Index))
	}
	if e.Field != "" {
		parts = append(parts, e.Field)
	}
	return strings.Join(parts, ".")
}

// As lets errors.As see the error as a *schema.ValidationError.
func (e *InvalidEventError) As(target any) bool {
	if p, ok := target.(**schema.ValidationError); ok {
		*p = &schema.ValidationError{Loc: e.loc(), Msg: e.Reason}
		return true
	}
	return false
}

func invalid(field, reason string) *InvalidEventError {
	return &InvalidEventError{Index: -1, Field: field, Reason: reason}
}

// wireEvent is an event as JSON, with pointers so a missing field can be told
// from a zero one; ids and times are parsed by hand for precise messages.
type wireEvent struct {
	ID       *string             `json:"id"`
	Occurred *string             `json:"occurred"`
	Event    *string             `json:"event"`
	Resource map[string]string   `json:"resource"`
	Related  []map[string]string `json:"related"`
	Payload  json.RawMessage     `json:"payload"`
	Follows  *string             `json:"follows"`
}

// DecodeEvent parses one event as a client sent it and checks it against the
// limits. Received is left zero. Unknown fields are ignored; a missing related
// or payload becomes empty, as in Prefect.
func DecodeEvent(raw []byte, limits Limits) (schema.Event, error) {
	limits = limits.WithDefaults()
	// Checked before parsing: a huge body is refused without the work.
	if err := limits.checkSize(int64(len(raw))); err != nil {
		return schema.Event{}, err
	}
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		return schema.Event{}, jsonError(err)
	}
	ev, err := w.event()
	if err != nil {
		return schema.Event{}, err
	}
	if err := limits.Check(ev); err != nil {
		return schema.Event{}, err
	}
	return ev, nil
}

func (w wireEvent) event() (schema.Event, error) {
	// Required fields in the order Prefect's model declares them.
	if w.Occurred == nil {
		return schema.Event{}, invalid("occurred", "Field required")
	}
	occurred, terr := schema.ParseDateTime(*w.Occurred, time.UTC)
	if terr != nil {
		return schema.Event{}, invalid("occurred", terr.Msg)
	}
	if w.Event == nil {
		return schema.Event{}, invalid("event", "Field required")
	}
	if w.Resource == nil {
		return schema.Event{}, invalid("resource", "Field required")
	}
	if !schema.IsJSONObject(w.Payload) {
		return schema.Event{}, invalid("payload", "Input should be a valid dictionary")
	}
	if w.ID == nil {
		return schema.Event{}, invalid("id", "Field required")
	}
	id, err := uuid.Parse(*w.ID)
	if err != nil {
		return schema.Event{}, invalid("id", "Input should be a valid UUID")
	}
	ev := schema.Event{
		ID:       id,
		Occurred: occurred,
		Event:    *w.Event,
		Resource: w.Resource,
		Related:  make([]schema.Resource, len(w.Related)),
		Payload:  w.Payload,
	}
	for i, r := range w.Related {
		ev.Related[i] = r
	}
	if len(bytes.TrimSpace(ev.Payload)) == 0 || string(bytes.TrimSpace(ev.Payload)) == "null" {
		ev.Payload = json.RawMessage(`{}`)
	}
	if w.Follows != nil {
		f, err := uuid.Parse(*w.Follows)
		if err != nil {
			return schema.Event{}, invalid("follows", "Input should be a valid UUID")
		}
		ev.Follows = &f
	}
	return ev, nil
}

// Check applies the limits and Prefect's resource rules to an event; it does
// not check the size, which only the raw JSON has (see DecodeEvent).
func (l Limits) Check(ev schema.Event) error {
	l = l.WithDefaults()
	if utf8.RuneCountInString(ev.Event) > l.MaxNameLength {
		return invalid("event", fmt.Sprintf("Event name must be at most %d characters", l.MaxNameLength))
	}
	if err := l.checkResource(ev.Resource, false); err != nil {
		err.Field = "resource"
		return err
	}
	if len(ev.Related) > l.MaxRelatedResources {
		return invalid("related", fmt.Sprintf("The maximum number of related resources is %d", l.MaxRelatedResources))
	}
	for i, r := range ev.Related {
		if err := l.checkResource(r, true); err != nil {
			err.Field = "related." + strconv.Itoa(i)
			return err
		}
	}
	return nil
}

func (l Limits) checkResource(r schema.Resource, related bool) *InvalidEventError {
	if len(r) > l.MaxLabelsPerResource {
		return invalid("", fmt.Sprintf("The maximum number of labels per resource is %d", l.MaxLabelsPerResource))
	}
	if _, ok := r["prefect.resource.id"]; !ok {
		return invalid("", "Resources must include the prefect.resource.id label")
	}
	if r.ID() == "" {
		return invalid("", "The prefect.resource.id label must be non-empty")
	}
	if !related {
		return nil
	}
	if _, ok := r["prefect.resource.role"]; !ok {
		return invalid("", "Related Resources must include the prefect.resource.role label")
	}
	if r.Role() == "" {
		return invalid("", "The prefect.resource.role label must be non-empty")
	}
	return nil
}

func (l Limits) checkSize(n int64) *InvalidEventError {
	if n > l.MaxSizeBytes {
		// The Prefect client's EventTooLarge wording, less "to emit".
		err := invalid("", fmt.Sprintf("Event is too large (%d > %d bytes)", n, l.MaxSizeBytes))
		err.TooLarge = true
		return err
	}
	return nil
}

// jsonError turns a decoding failure into pydantic-like words.
func jsonError(err error) *InvalidEventError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "a valid string"
		switch te.Type.Kind() {
		case reflect.Map, reflect.Struct:
			want = "a valid dictionary"
		case reflect.Slice:
			want = "a valid list"
		}
		return invalid(te.Field, "Input should be "+want)
	}
	return invalid("", "Invalid JSON: "+err.Error())
}
