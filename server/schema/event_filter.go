package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
)

// EventFilter is Prefect's events EventFilter (server/events/filters.py), as
// sent to POST /events/filter, /events/count-by and the /events/out socket.
// Like Prefect's, its objects reject keys they do not declare (UnknownKey,
// for the HTTP bodies). Includes evaluates it against one event in
// memory; the store translates it to SQL with the same meaning.
//
// Label values follow Prefect's matching: "v" equals v, "v*" starts with v,
// "!v" and "!v*" negate. A label with any value requires the label to be
// present; the value must match one of the positive values (when there are
// any) and none of the negative ones.
type EventFilter struct {
	Occurred    EventOccurredFilter               `json:"occurred"`
	Event       *EventNameFilter                  `json:"event,omitempty"`
	Resource    *EventResourceFilter              `json:"resource,omitempty"`
	Related     OneOrMany[EventRelatedFilter]     `json:"related,omitempty"`
	AnyResource OneOrMany[EventAnyResourceFilter] `json:"any_resource,omitempty"`
	ID          EventIDFilter                     `json:"id"`
	Text        *EventTextFilter                  `json:"text,omitempty"`
	// Order is "ASC" or "DESC" (Prefect's default).
	Order string `json:"order"`
}

// EventOccurredFilter bounds occurred, both ends inclusive. Nil ends take
// Prefect's defaults in Resolve.
type EventOccurredFilter struct {
	Since *DateTime `json:"since"`
	Until *DateTime `json:"until"`
}

// EventNameFilter matches the event name.
type EventNameFilter struct {
	Prefix        []string `json:"prefix,omitempty"`
	ExcludePrefix []string `json:"exclude_prefix,omitempty"`
	Name          []string `json:"name,omitempty"`
	ExcludeName   []string `json:"exclude_name,omitempty"`
}

// EventResourceFilter matches the event's primary resource.
type EventResourceFilter struct {
	ID       []string              `json:"id,omitempty"`
	IDPrefix []string              `json:"id_prefix,omitempty"`
	Labels   ResourceSpecification `json:"labels,omitempty"`
	Distinct bool                  `json:"distinct,omitempty"`
}

// EventRelatedFilter matches when one related resource meets every criterion.
type EventRelatedFilter struct {
	ID               []string              `json:"id,omitempty"`
	Role             []string              `json:"role,omitempty"`
	ResourcesInRoles [][2]string           `json:"resources_in_roles,omitempty"`
	Labels           ResourceSpecification `json:"labels,omitempty"`
}

// EventAnyResourceFilter matches when the primary or a related resource
// meets every criterion.
type EventAnyResourceFilter struct {
	ID       []string              `json:"id,omitempty"`
	IDPrefix []string              `json:"id_prefix,omitempty"`
	Labels   ResourceSpecification `json:"labels,omitempty"`
}

// EventIDFilter matches event ids.
type EventIDFilter struct {
	ID []uuid.UUID `json:"id,omitempty"`
}

// OneOrMany decodes a single object or a list of them (all must match).
type OneOrMany[T any] []T

// KeysOf: one T or a list of them.
func (OneOrMany[T]) KeysOf() reflect.Type { return reflect.TypeFor[[]T]() }

func (o *OneOrMany[T]) UnmarshalJSON(data []byte) error {
	s := strings.TrimSpace(string(data))
	switch {
	case s == "null":
		*o = nil
		return nil
	case strings.HasPrefix(s, "["):
		var many []T
		if err := json.Unmarshal(data, &many); err != nil {
			return err
		}
		*o = many
		return nil
	}
	var one T
	if err := json.Unmarshal(data, &one); err != nil {
		return err
	}
	*o = OneOrMany[T]{one}
	return nil
}

// ResourceSpecification maps labels to accepted values; a single string
// value decodes as a one-element list.
type ResourceSpecification map[string][]string

func (r *ResourceSpecification) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*r = nil
		return nil
	}
	out := make(ResourceSpecification, len(raw))
	for k, v := range raw {
		var one string
		if json.Unmarshal(v, &one) == nil {
			out[k] = []string{one}
			continue
		}
		var many []string
		if err := json.Unmarshal(v, &many); err != nil {
			return err
		}
		out[k] = many
	}
	*r = out
	return nil
}

// Matches reports whether resource carries every label of the spec.
func (r ResourceSpecification) Matches(resource Resource) bool {
	for label, values := range r {
		v, present := resource[label]
		if !LabelMatches(values, v, present) {
			return false
		}
	}
	return true
}

// LabelOps splits label values into positive and negative exact values and
// prefixes ("v*"), as Prefect's LabelOperations does.
type LabelOps struct {
	Positive, Negative, PositivePrefixes, NegativePrefixes []string
}

// ParseLabelOps classifies values.
func ParseLabelOps(values []string) LabelOps {
	var ops LabelOps
	for _, v := range values {
		neg := strings.HasPrefix(v, "!")
		if neg {
			v = v[1:]
		}
		prefix := strings.HasSuffix(v, "*")
		if prefix {
			v = strings.TrimRight(v, "*")
		}
		switch {
		case neg && prefix:
			ops.NegativePrefixes = append(ops.NegativePrefixes, v)
		case neg:
			ops.Negative = append(ops.Negative, v)
		case prefix:
			ops.PositivePrefixes = append(ops.PositivePrefixes, v)
		default:
			ops.Positive = append(ops.Positive, v)
		}
	}
	return ops
}

// LabelMatches applies values to one label's value (present false when the
// resource lacks the label). An empty list matches nothing.
func LabelMatches(values []string, v string, present bool) bool {
	if len(values) == 0 || !present {
		return false
	}
	ops := ParseLabelOps(values)
	if len(ops.Positive)+len(ops.PositivePrefixes) > 0 {
		hit := false
		for _, p := range ops.Positive {
			hit = hit || v == p
		}
		for _, p := range ops.PositivePrefixes {
			hit = hit || strings.HasPrefix(v, p)
		}
		if !hit {
			return false
		}
	}
	for _, n := range ops.Negative {
		if v == n {
			return false
		}
	}
	for _, n := range ops.NegativePrefixes {
		if strings.HasPrefix(v, n) {
			return false
		}
	}
	return true
}

// Resolve fills Prefect's defaults: since the start of the UTC day 180 days
// ago, until now, order DESC.
func (f *EventFilter) Resolve(now time.Time) {
	now = now.UTC()
	if f.Occurred.Since == nil {
		y, m, d := now.Date()
		f.Occurred.Since = &DateTime{time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -180)}
	}
	if f.Occurred.Until == nil {
		f.Occurred.Until = &DateTime{now}
	}
	f.Order = strings.ToUpper(f.Order)
	if f.Order != "ASC" {
		f.Order = "DESC"
	}
}

// Includes reports whether e matches the filter.
func (f *EventFilter) Includes(e Event) bool {
	if s := f.Occurred.Since; s != nil && e.Occurred.Before(s.Time) {
		return false
	}
	if u := f.Occurred.Until; u != nil && e.Occurred.After(u.Time) {
		return false
	}
	if n := f.Event; n != nil && !n.includes(e.Event) {
		return false
	}
	if r := f.Resource; r != nil && !r.includes(e.Resource) {
		return false
	}
	for _, rel := range f.Related {
		if !rel.includes(e.Related) {
			return false
		}
	}
	for _, a := range f.AnyResource {
		if !a.includes(e) {
			return false
		}
	}
	if len(f.ID.ID) > 0 && !containsID(f.ID.ID, e.ID) {
		return false
	}
	if f.Text != nil {
		if q := ParseTextSearch(f.Text.Query); !q.Empty() && !q.Matches(SearchableText(e)) {
			return false
		}
	}
	return true
}

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func anyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func anyEqual(s string, vals []string) bool {
	for _, v := range vals {
		if s == v {
			return true
		}
	}
	return false
}

func (n *EventNameFilter) includes(name string) bool {
	if len(n.Prefix) > 0 && !anyPrefix(name, n.Prefix) {
		return false
	}
	if len(n.ExcludePrefix) > 0 && anyPrefix(name, n.ExcludePrefix) {
		return false
	}
	if len(n.Name) > 0 && !anyEqual(name, n.Name) {
		return false
	}
	if len(n.ExcludeName) > 0 && anyEqual(name, n.ExcludeName) {
		return false
	}
	return true
}

func (r *EventResourceFilter) includes(res Resource) bool {
	if len(r.ID) > 0 && !anyEqual(res.ID(), r.ID) {
		return false
	}
	if len(r.IDPrefix) > 0 && !anyPrefix(res.ID(), r.IDPrefix) {
		return false
	}
	return r.Labels == nil || r.Labels.Matches(res)
}

// IsEmpty reports whether the filter has no criteria (and so matches every
// event, related resources or not).
func (r *EventRelatedFilter) IsEmpty() bool {
	return len(r.ID) == 0 && len(r.Role) == 0 && len(r.ResourcesInRoles) == 0 && len(r.Labels) == 0
}

func (r *EventRelatedFilter) includes(related []Resource) bool {
	if r.IsEmpty() {
		return true
	}
	for _, res := range related {
		if r.matches(res) {
			return true
		}
	}
	return false
}

func (r *EventRelatedFilter) matches(res Resource) bool {
	if len(r.ID) > 0 && !anyEqual(res.ID(), r.ID) {
		return false
	}
	if len(r.Role) > 0 && !anyEqual(res.Role(), r.Role) {
		return false
	}
	if len(r.ResourcesInRoles) > 0 {
		hit := false
		for _, p := range r.ResourcesInRoles {
			hit = hit || (res.ID() == p[0] && res.Role() == p[1])
		}
		if !hit {
			return false
		}
	}
	if r.Labels != nil && !r.Labels.Matches(res) {
		return false
	}
	// A related filter never matches the primary resource.
	return len(r.Role) > 0 || res.Role() != ""
}

// IsEmpty reports whether the filter has no criteria.
func (a *EventAnyResourceFilter) IsEmpty() bool {
	return len(a.ID) == 0 && len(a.IDPrefix) == 0 && len(a.Labels) == 0
}

func (a *EventAnyResourceFilter) includes(e Event) bool {
	if a.IsEmpty() {
		return true
	}
	if a.matches(e.Resource) {
		return true
	}
	for _, res := range e.Related {
		if a.matches(res) {
			return true
		}
	}
	return false
}

func (a *EventAnyResourceFilter) matches(res Resource) bool {
	if len(a.ID) > 0 && !anyEqual(res.ID(), a.ID) {
		return false
	}
	if len(a.IDPrefix) > 0 && !anyPrefix(res.ID(), a.IDPrefix) {
		return false
	}
	return a.Labels == nil || a.Labels.Matches(res)
}
