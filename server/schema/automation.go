package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/settings"
)

// Automation is a trigger on the event stream and the actions it takes, as
// Prefect's automations API answers it: the trigger and the actions with
// every default filled in, as pydantic would.
type Automation struct {
	ID               uuid.UUID         `json:"id"`
	Created          time.Time         `json:"created"`
	Updated          time.Time         `json:"updated"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Enabled          bool              `json:"enabled"`
	Tags             []string          `json:"tags"`
	Trigger          json.RawMessage   `json:"trigger"`
	Actions          []json.RawMessage `json:"actions"`
	ActionsOnTrigger []json.RawMessage `json:"actions_on_trigger"`
	ActionsOnResolve []json.RawMessage `json:"actions_on_resolve"`
}

// AutomationCore is the body of PUT /automations/{id} (the whole automation
// again) and the heart of AutomationCreate. Validate checks the trigger and
// the actions and rewrites them with their defaults (and fresh trigger ids).
type AutomationCore struct {
	Name             *string           `json:"name"`
	Description      *string           `json:"description"`
	Enabled          *bool             `json:"enabled"`
	Tags             []string          `json:"tags"`
	Trigger          json.RawMessage   `json:"trigger"`
	Actions          []json.RawMessage `json:"actions"`
	ActionsOnTrigger []json.RawMessage `json:"actions_on_trigger"`
	ActionsOnResolve []json.RawMessage `json:"actions_on_resolve"`
}

// AutomationCreate is the body of POST /automations/.
type AutomationCreate struct {
	AutomationCore
	// OwnerResource is the resource that owns the automation: deleting it
	// (a deployment) deletes the automation.
	OwnerResource *string `json:"owner_resource"`
}

// AutomationPatch is the body of PATCH /automations/{id}.
type AutomationPatch struct {
	Enabled *bool `json:"enabled"`
}

// AutomationQuery is the body of POST /automations/filter and /count.
type AutomationQuery struct {
	Sort        string            `json:"sort"`
	Automations *AutomationFilter `json:"automations"`
	Page
}

// AutomationFilter selects automations by id, name, creation time or tags.
type AutomationFilter struct {
	Operator Operator                 `json:"operator"`
	ID       *IDFilter                `json:"id"`
	Name     *AutomationNameFilter    `json:"name"`
	Created  *AutomationCreatedFilter `json:"created"`
	Tags     *TagsFilter              `json:"tags"`
}

// AutomationNameFilter matches names exactly.
type AutomationNameFilter struct {
	Any []string `json:"any_"`
}

// AutomationCreatedFilter matches automations created before a time.
type AutomationCreatedFilter struct {
	Before *DateTime `json:"before_"`
}

// AutomationSorts are the orders POST /automations/filter takes.
var AutomationSorts = []string{"CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"}

// Validate requires a name, a trigger and actions, and checks the trigger and
// every action as Prefect's models do.
func (c *AutomationCore) Validate() error {
	if c.Name == nil {
		return Invalid("name", "Field required")
	}
	if len(c.Trigger) == 0 {
		return Invalid("trigger", "Field required")
	}
	if c.Actions == nil {
		return Invalid("actions", "Field required")
	}
	trigger, err := normalizeTrigger(c.Trigger, "trigger")
	if err != nil {
		return err
	}
	c.Trigger = trigger
	for _, list := range []struct {
		name    string
		actions *[]json.RawMessage
	}{{"actions", &c.Actions}, {"actions_on_trigger", &c.ActionsOnTrigger}, {"actions_on_resolve", &c.ActionsOnResolve}} {
		out := make([]json.RawMessage, len(*list.actions))
		for i, raw := range *list.actions {
			if out[i], err = normalizeAction(raw, list.name+"."+strconv.Itoa(i)); err != nil {
				return err
			}
		}
		*list.actions = out
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	return nil
}

// Automation is the automation the body describes, with the defaults of
// what it left out.
func (c AutomationCore) Automation() Automation {
	a := Automation{Name: *c.Name, Enabled: true, Tags: c.Tags, Trigger: c.Trigger, Actions: c.Actions,
		ActionsOnTrigger: nonNilList(c.ActionsOnTrigger), ActionsOnResolve: nonNilList(c.ActionsOnResolve)}
	if c.Description != nil {
		a.Description = *c.Description
	}
	if c.Enabled != nil {
		a.Enabled = *c.Enabled
	}
	return a
}

func nonNilList(l []json.RawMessage) []json.RawMessage {
	if l == nil {
		return []json.RawMessage{}
	}
	return l
}

// DeploymentIDs are the deployments the automation's actions run by id
// ("selected" run-deployment actions): it is related to each.
func (a Automation) DeploymentIDs() []string {
	var ids []string
	for _, raw := range a.Actions {
		var act struct {
			Type         string  `json:"type"`
			Source       string  `json:"source"`
			DeploymentID *string `json:"deployment_id"`
		}
		if json.Unmarshal(raw, &act) == nil && act.Type == "run-deployment" && act.Source == "selected" && act.DeploymentID != nil {
			if !slices.Contains(ids, *act.DeploymentID) {
				ids = append(ids, *act.DeploymentID)
			}
		}
	}
	return ids
}

// triggerTypes are the triggers Prefect's open-source server evaluates.
var triggerTypes = []string{"event", "compound", "sequence"}

// normalizeTrigger checks a trigger and writes it out with its defaults and
// a new id, as Prefect resets the ids a client sends.
func normalizeTrigger(raw json.RawMessage, loc string) (json.RawMessage, error) {
	var t map[string]any
	if err := decodeNumbers(raw, &t); err != nil || t == nil {
		return nil, Invalid(loc, "Input should be a valid dictionary or instance of Trigger")
	}
	kind, _ := t["type"].(string)
	if _, has := t["type"]; !has {
		return nil, Invalid(loc, "Unable to extract tag using discriminator 'type'")
	}
	if !slices.Contains(triggerTypes, kind) {
		return nil, Invalid(loc, fmt.Sprintf("Input tag %s found using 'type' does not match any of the expected tags: 'event', 'compound', 'sequence'", pyRepr(t["type"])))
	}
	loc += "." + kind
	out := map[string]any{"type": kind, "id": uuid.New()}
	switch kind {
	case "event":
		if err := eventTrigger(t, out, loc); err != nil {
			return nil, err
		}
	default:
		list, ok := t["triggers"].([]any)
		if !ok {
			if _, has := t["triggers"]; !has {
				return nil, Invalid(loc+".triggers", "Field required")
			}
			return nil, Invalid(loc+".triggers", "Input should be a valid list")
		}
		children := make([]json.RawMessage, len(list))
		for i, child := range list {
			b, _ := json.Marshal(child)
			var err error
			if children[i], err = normalizeTrigger(b, loc+".triggers."+strconv.Itoa(i)); err != nil {
				return nil, err
			}
		}
		out["triggers"] = children
		out["within"] = nil
		if w, has := t["within"]; has && w != nil {
			d, err := seconds(w, loc+".within")
			if err != nil {
				return nil, err
			}
			out["within"] = d
		}
		if kind == "compound" {
			req, has := t["require"]
			switch r := req.(type) {
			case json.Number:
				n, err := r.Int64()
				if err != nil {
					return nil, Invalid(loc+".require", "Input should be a valid integer")
				}
				out["require"] = n
			case string:
				if r != "any" && r != "all" {
					return nil, Invalid(loc+".require", "Input should be 'any' or 'all'")
				}
				out["require"] = r
			default:
				if !has {
					return nil, Invalid(loc+".require", "Field required")
				}
				return nil, Invalid(loc+".require", "Input should be a valid integer")
			}
		}
	}
	return json.Marshal(out)
}

// eventTrigger checks an event trigger's fields into out, with pydantic's
// defaults; a proactive trigger waits at least 10 seconds.
func eventTrigger(t, out map[string]any, loc string) error {
	out["match"] = map[string]any{}
	out["match_related"] = map[string]any{}
	for _, key := range []string{"match", "match_related"} {
		v, has := t[key]
		if !has {
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			out[key] = x
		case []any:
			if key == "match_related" {
				out[key] = x
				continue
			}
			return Invalid(loc+"."+key, "Input should be a valid dictionary")
		default:
			return Invalid(loc+"."+key, "Input should be a valid dictionary")
		}
	}
	for _, key := range []string{"after", "expect", "for_each"} {
		set := []string{}
		if v, has := t[key]; has && v != nil {
			list, ok := v.([]any)
			if !ok {
				return Invalid(loc+"."+key, "Input should be a valid set")
			}
			for i, e := range list {
				s, ok := e.(string)
				if !ok {
					return Invalid(loc+"."+key+"."+strconv.Itoa(i), "Input should be a valid string")
				}
				if !slices.Contains(set, s) {
					set = append(set, s)
				}
			}
		}
		out[key] = set
	}
	posture, has := t["posture"]
	if !has {
		return Invalid(loc+".posture", "Field required")
	}
	if posture != "Reactive" && posture != "Proactive" {
		return Invalid(loc+".posture", "Input should be 'Reactive' or 'Proactive'")
	}
	out["posture"] = posture
	out["threshold"] = int64(1)
	if v, has := t["threshold"]; has {
		n, ok := v.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil {
			return Invalid(loc+".threshold", "Input should be a valid integer")
		}
		out["threshold"] = i
	}
	within := 0.0
	if v, has := t["within"]; has {
		if v == nil {
			return Invalid(loc, "Value error, `within` should be a valid timedelta")
		}
		var err error
		if within, err = seconds(v, loc+".within"); err != nil {
			return err
		}
	}
	if posture == "Proactive" {
		switch {
		case within == 0:
			within = 10
		case within < 10:
			return Invalid(loc, "Value error, `within` for Proactive triggers must be greater than or equal to 10 seconds")
		}
	}
	out["within"] = within
	return nil
}

// seconds reads a duration as pydantic's timedelta does (seconds, or an ISO
// 8601 duration), refusing a negative one.
func seconds(v any, loc string) (float64, error) {
	var s float64
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, Invalid(loc, "Input should be a valid timedelta")
		}
		s = f
	case string:
		d, err := settings.ParseDuration(x)
		if err != nil {
			return 0, Invalid(loc, "Input should be a valid timedelta, invalid digit in duration")
		}
		s = d.Seconds()
	default:
		return 0, Invalid(loc, "Input should be a valid timedelta")
	}
	if s < 0 {
		return 0, Invalid(loc, "Input should be greater than or equal to 0 seconds")
	}
	return s, nil
}

// actionDefaults are the open-source actions, each with the fields it
// takes and their defaults (nil: required). Sources "selected" need the id.
var actionDefaults = map[string]map[string]any{
	"do-nothing":            {},
	"run-deployment":        {"source": "selected", "deployment_id": nullDefault, "parameters": nullDefault, "job_variables": nullDefault, "schedule_after": 0.0},
	"pause-deployment":      {"source": "selected", "deployment_id": nullDefault},
	"resume-deployment":     {"source": "selected", "deployment_id": nullDefault},
	"cancel-flow-run":       {},
	"delete-flow-run":       {},
	"change-flow-run-state": {"state": nil, "name": nullDefault, "message": nullDefault, "force": false},
	"pause-work-queue":      {"source": "selected", "work_queue_id": nullDefault},
	"resume-work-queue":     {"source": "selected", "work_queue_id": nullDefault},
	"send-notification":     {"block_document_id": nil, "body": nil, "subject": "Prefect automated notification"},
	"call-webhook":          {"block_document_id": nil, "payload": ""},
	"pause-automation":      {"source": "selected", "automation_id": nullDefault},
	"resume-automation":     {"source": "selected", "automation_id": nullDefault},
	"suspend-flow-run":      {},
	"resume-flow-run":       {},
	"pause-work-pool":       {"source": "selected", "work_pool_id": nullDefault},
	"resume-work-pool":      {"source": "selected", "work_pool_id": nullDefault},
}

// nullDefault marks a field whose default is null (nil marks a required one).
type nullMarker struct{}

var nullDefault = nullMarker{}

// normalizeAction checks an action's type and required fields and writes it
// out with its defaults. Templates in its fields are kept as written; they
// are not checked.
func normalizeAction(raw json.RawMessage, loc string) (json.RawMessage, error) {
	var a map[string]any
	if err := decodeNumbers(raw, &a); err != nil || a == nil {
		return nil, Invalid(loc, "Input should be a valid dictionary or object to extract fields from")
	}
	kind, _ := a["type"].(string)
	fields, known := actionDefaults[kind]
	if !known {
		if _, has := a["type"]; !has {
			return nil, Invalid(loc, "Unable to extract tag using discriminator 'type'")
		}
		names := make([]string, 0, len(actionDefaults))
		for k := range actionDefaults {
			names = append(names, "'"+k+"'")
		}
		slices.Sort(names)
		return nil, Invalid(loc, fmt.Sprintf("Input tag %s found using 'type' does not match any of the expected tags: %s", pyRepr(a["type"]), strings.Join(names, ", ")))
	}
	loc += "." + kind
	out := map[string]any{"type": kind}
	for field, def := range fields {
		v, has := a[field]
		switch {
		case has:
			out[field] = v
		case def == nil:
			return nil, Invalid(loc+"."+field, "Field required")
		case def == nullDefault:
			out[field] = nil
		default:
			out[field] = def
		}
	}
	if d, has := a["schedule_after"]; has && kind == "run-deployment" {
		s, err := seconds(d, loc+".schedule_after")
		if err != nil {
			return nil, err
		}
		out["schedule_after"] = s
	}
	if source, has := out["source"]; has {
		if source != "selected" && source != "inferred" {
			return nil, Invalid(loc+".source", "Input should be 'selected' or 'inferred'")
		}
		for field := range fields {
			if !strings.HasSuffix(field, "_id") {
				continue
			}
			id, set := out[field].(string)
			hasID := set && id != ""
			if (source == "selected") != hasID {
				return nil, Invalid(loc, "Value error, "+field+" is "+map[bool]string{true: "not allowed", false: "required"}[hasID])
			}
		}
	}
	return json.Marshal(out)
}

// EmbeddedBody: every field is a Body parameter of its own in Prefect.
func (AutomationQuery) EmbeddedBody() {}

// Validate checks the sort.
func (q *AutomationQuery) Validate() error {
	if q.Sort != "" && !slices.Contains(AutomationSorts, q.Sort) {
		return Invalid("sort", "Input should be 'CREATED_DESC', 'UPDATED_DESC', 'NAME_ASC' or 'NAME_DESC'")
	}
	return nil
}

// AutomationCountQuery is the body of POST /automations/count.
type AutomationCountQuery struct {
	Automations *AutomationFilter `json:"automations"`
}

// EmbeddedBody: the filter sits under its own key.
func (AutomationCountQuery) EmbeddedBody() {}
