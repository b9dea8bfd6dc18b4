package templates

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// Model is one of Prefect's pydantic objects (a flow run, a deployment,
// the triggering event ...) as a template sees it: attributes by field
// name, a field missing is undefined.
type Model struct {
	class  string
	keys   []string // in the order of the JSON it was read from
	fields map[string]any
	// extra are computed attributes (an event's resource_in_role ...).
	extra map[string]any
	str   func(m *Model) string
}

// GetAttribute reads a field.
func (m *Model) GetAttribute(name string) (*exec.Value, bool) {
	if v, ok := m.fields[name]; ok {
		return exec.AsValue(v), true
	}
	if v, ok := m.extra[name]; ok {
		return exec.AsValue(v), true
	}
	return exec.AsValue(undefined), true
}

// GetItem is an attribute, as Jinja falls back to one for a string key.
func (m *Model) GetItem(key any) (*exec.Value, bool) {
	if s, ok := key.(string); ok {
		return m.GetAttribute(s)
	}
	return exec.AsValue(undefined), true
}

// String is the model's str(): pydantic's "field=repr ...", or the class's own.
func (m *Model) String() string {
	if m.str != nil {
		return m.str(m)
	}
	parts := make([]string, len(m.keys))
	for i, k := range m.keys {
		parts[i] = k + "=" + modelRepr(m.fields[k])
	}
	return strings.Join(parts, " ")
}

// modelRepr is repr() of a field, nested models as Class(field=repr, ...).
func modelRepr(v any) string {
	if m, ok := v.(*Model); ok {
		parts := make([]string, len(m.keys))
		for i, k := range m.keys {
			parts[i] = k + "=" + modelRepr(m.fields[k])
		}
		return m.class + "(" + strings.Join(parts, ", ") + ")"
	}
	return pyRepr(v)
}

// Field returns a field's value (nil when absent).
func (m *Model) Field(name string) any { return m.fields[name] }

// SetField replaces or adds a field.
func (m *Model) SetField(name string, v any) {
	if _, ok := m.fields[name]; !ok {
		m.keys = append(m.keys, name)
	}
	m.fields[name] = v
}

// kind describes how one of Prefect's models reads from its JSON.
type kind struct {
	class string
	// enums names the enum class of a field.
	enums map[string]string
	// sub names the kind of a field holding a model or a list of them.
	sub map[string]string
	str func(m *Model) string
}

// timeFields and durationFields are the datetime and timedelta fields of
// Prefect's models, whatever the model.
var (
	timeFields = []string{"created", "updated", "expected_start_time", "next_scheduled_start_time", "start_time",
		"end_time", "timestamp", "occurred", "received", "last_polled", "scheduled_time", "pause_timeout",
		"cache_expiration", "triggered", "anchor_date", "last_heartbeat_time"}
	durationFields = []string{"total_run_time", "estimated_run_time", "estimated_start_time_delta", "interval",
		"within", "schedule_after"}
)

// kinds are the models templates see, by the kind Object is given.
var kinds = map[string]kind{
	"flow_run": {class: "FlowRunResponse", enums: map[string]string{"state_type": "StateType"},
		sub: map[string]string{"state": "state", "empirical_policy": "flow_run_policy", "created_by": "created_by"}},
	"state": {class: "State", enums: map[string]string{"type": "StateType"},
		sub: map[string]string{"state_details": "state_details"}, str: stateString},
	"state_details":   {class: "StateDetails"},
	"flow_run_policy": {class: "FlowRunPolicy"},
	"task_run_policy": {class: "TaskRunPolicy"},
	"created_by":      {class: "CreatedBy"},
	"updated_by":      {class: "UpdatedBy"},
	"task_run": {class: "TaskRun", enums: map[string]string{"state_type": "StateType"},
		sub: map[string]string{"state": "state", "empirical_policy": "task_run_policy"}},
	"flow": {class: "Flow"},
	"deployment": {class: "DeploymentResponse", enums: map[string]string{"status": "DeploymentStatus"},
		sub: map[string]string{"schedules": "deployment_schedule", "concurrency_options": "concurrency_options",
			"global_concurrency_limit": "concurrency_limit", "created_by": "created_by", "updated_by": "updated_by"}},
	"deployment_schedule": {class: "DeploymentSchedule", sub: map[string]string{"schedule": "schedule"}},
	"schedule":            {class: "Schedule"},
	"concurrency_options": {class: "ConcurrencyOptions"},
	"concurrency_limit":   {class: "ConcurrencyLimitV2"},
	"work_pool": {class: "WorkPool", enums: map[string]string{"status": "WorkPoolStatus"},
		sub: map[string]string{"storage_configuration": "storage_configuration"}},
	"storage_configuration": {class: "WorkPoolStorageConfiguration"},
	"work_queue": {class: "WorkQueueWithStatus", enums: map[string]string{"status": "WorkQueueStatus"},
		sub: map[string]string{"health_check_policy": "health_check_policy", "filter": "queue_filter"}},
	"health_check_policy": {class: "WorkQueueHealthPolicy"},
	"queue_filter":        {class: "QueueFilter"},
	"automation": {class: "Automation", sub: map[string]string{"trigger": "trigger", "actions": "action",
		"actions_on_trigger": "action", "actions_on_resolve": "action"}},
	"trigger": {class: "Trigger", enums: map[string]string{"posture": "Posture"},
		sub: map[string]string{"triggers": "trigger"}},
	"action": {class: "Action"},
	"event":  {class: "ReceivedEvent"},
	"firing": {class: "Firing", enums: map[string]string{}, sub: map[string]string{"trigger": "trigger",
		"triggering_firings": "firing", "triggering_event": "event"}},
}

// Object reads one of Prefect's objects from its JSON (as this server's
// API writes it): kind is flow_run, task_run, flow, deployment, work_pool,
// work_queue, concurrency_limit, automation, event or firing. JSON null is
// None.
func Object(kindName string, raw []byte) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return None
	}
	return modelOf(kindName, v, orderedKeys(raw))
}

func modelOf(kindName string, v any, keyOrder []string) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return fromDecoded(v)
	}
	k := kinds[kindName]
	if kindName == "event" {
		return eventModel(obj, keyOrder)
	}
	m := &Model{class: k.class, keys: keysOf(obj, keyOrder), fields: map[string]any{}, str: k.str}
	for _, key := range m.keys {
		m.fields[key] = fieldValue(k, key, obj[key])
	}
	return m
}

func fieldValue(k kind, key string, v any) any {
	if v == nil {
		return None
	}
	if class, ok := k.enums[key]; ok {
		if s, ok := v.(string); ok {
			return Enum{class: class, value: s}
		}
	}
	if sub, ok := k.sub[key]; ok {
		if list, ok := v.([]any); ok {
			out := make([]any, len(list))
			for i, e := range list {
				out[i] = modelOf(sub, e, nil)
			}
			return out
		}
		return modelOf(sub, v, nil)
	}
	if slices.Contains(timeFields, key) {
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return DateTime{t.UTC()}
			}
		}
	}
	if key == "id" || strings.HasSuffix(key, "_id") || key == "follows" {
		if s, ok := v.(string); ok {
			if _, err := uuid.Parse(s); err == nil {
				return UUID(s)
			}
		}
	}
	if slices.Contains(durationFields, key) {
		if n, ok := v.(json.Number); ok {
			f, _ := n.Float64()
			return Duration(f)
		}
	}
	return fromDecoded(v)
}

// eventModel is a ReceivedEvent: its resources are Resources, and it has
// Prefect's involved_resources, resource_in_role and resources_in_role.
func eventModel(obj map[string]any, keyOrder []string) *Model {
	m := &Model{class: "ReceivedEvent", keys: keysOf(obj, keyOrder), fields: map[string]any{}}
	for _, key := range m.keys {
		switch key {
		case "resource":
			m.fields[key] = resourceOf(obj[key])
		case "related":
			list, _ := obj[key].([]any)
			out := make([]any, len(list))
			for i, e := range list {
				out[i] = resourceOf(e)
			}
			m.fields[key] = out
		default:
			m.fields[key] = fieldValue(kind{}, key, obj[key])
		}
	}
	resource, _ := m.fields["resource"].(Resource)
	related, _ := m.fields["related"].([]any)
	involved := append([]any{resource}, related...)
	inRole, allInRole := Dict{}, Dict{}
	for i := len(related) - 1; i >= 0; i-- {
		r := related[i].(Resource)
		inRole[r["prefect.resource.role"]] = r
	}
	for _, e := range related {
		r := e.(Resource)
		role := r["prefect.resource.role"]
		list, _ := allInRole[role].([]any)
		allInRole[role] = append(list, r)
	}
	m.extra = map[string]any{"involved_resources": involved, "resource_in_role": inRole, "resources_in_role": allInRole}
	return m
}

func resourceOf(v any) Resource {
	r := Resource{}
	if obj, ok := v.(map[string]any); ok {
		for k, e := range obj {
			if s, ok := e.(string); ok {
				r[k] = s
			}
		}
	}
	return r
}

// keysOf is the object's keys in the order given, or sorted.
func keysOf(obj map[string]any, order []string) []string {
	if len(order) == len(obj) {
		return order
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// orderedKeys lists the keys of a JSON object in the order they appear.
func orderedKeys(raw []byte) []string {
	d := json.NewDecoder(bytes.NewReader(raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return nil
		}
	}
	return keys
}

// stateString is Prefect's State.__str__: Completed(), Failed('message'),
// Late(type=SCHEDULED).
func stateString(m *Model) string {
	name, _ := m.fields["name"].(string)
	var display []string
	if msg, ok := m.fields["message"].(string); ok && msg != "" {
		display = append(display, pyStrRepr(msg))
	}
	if t, ok := m.fields["type"].(Enum); ok && !strings.EqualFold(t.value, name) {
		display = append(display, "type="+t.value)
	}
	return name + "(" + strings.Join(display, ", ") + ")"
}
