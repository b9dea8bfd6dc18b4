package schema

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/templates"
)

// Action types that name what they act on.
const (
	ActionRunDeployment = "run-deployment"
	// SourceSelected: the action acts on the object its id names;
	// SourceInferred: on the one the triggering event is about.
	SourceSelected = "selected"
	SourceInferred = "inferred"
)

// defaultNotificationSubject is a send-notification action's subject when
// none is sent.
const defaultNotificationSubject = "Prefect automated notification"

// Action is what an automation does when it fires. It decodes in Prefect's
// union rules (see union.go) with Prefect's defaults filled in, and writes
// the fields of its type, as Prefect does. A value that is no action decodes
// without error; Check reports why.
type Action struct {
	Type string

	// The actions on one deployment, work queue, work pool or automation
	// act on the one TargetID names (Source "selected") or on the one the
	// triggering event is about ("inferred", TargetID nil).
	Source   string
	TargetID *uuid.UUID

	// run-deployment: the run's parameters and job variables (objects, or
	// null for the deployment's own) and its delay in seconds.
	Parameters    json.RawMessage
	JobVariables  json.RawMessage
	ScheduleAfter float64

	// change-flow-run-state: the state to propose, and whether to force it.
	StateName *string
	State     StateType
	Message   *string
	Force     bool

	// send-notification and call-webhook: the block that sends, and the
	// templates of what it sends.
	BlockDocumentID uuid.UUID
	Subject         string
	Body            string
	Payload         string

	invalid error // why it is no action, located relative to it
}

// actionKind is one of Prefect's action types.
type actionKind struct {
	tag, model string
	// target names what a selected action acts on ("deployment" for
	// deployment_id ...); empty for the actions that select nothing.
	target string
	// fields reads what the type adds to type, source and the target's id.
	fields func(r *fieldReader, a *Action)
	// write lists those fields in Prefect's order.
	write func(a Action) orderedObject
}

// actionKinds is Prefect's ServerActionTypes, in its order.
var actionKinds = []actionKind{
	{tag: "do-nothing", model: "DoNothing"},
	{tag: ActionRunDeployment, model: "RunDeployment", target: "deployment", fields: runDeploymentFields, write: runDeploymentJSON},
	{tag: "pause-deployment", model: "PauseDeployment", target: "deployment"},
	{tag: "resume-deployment", model: "ResumeDeployment", target: "deployment"},
	{tag: "cancel-flow-run", model: "CancelFlowRun"},
	{tag: "delete-flow-run", model: "DeleteFlowRun"},
	{tag: "change-flow-run-state", model: "ChangeFlowRunState", fields: changeStateFields, write: changeStateJSON},
	{tag: "pause-work-queue", model: "PauseWorkQueue", target: "work_queue"},
	{tag: "resume-work-queue", model: "ResumeWorkQueue", target: "work_queue"},
	{tag: "send-notification", model: "SendNotification", fields: notificationFields, write: notificationJSON},
	{tag: "call-webhook", model: "CallWebhook", fields: webhookFields, write: webhookJSON},
	{tag: "pause-automation", model: "PauseAutomation", target: "automation"},
	{tag: "resume-automation", model: "ResumeAutomation", target: "automation"},
	{tag: "suspend-flow-run", model: "SuspendFlowRun"},
	{tag: "resume-flow-run", model: "ResumeFlowRun"},
	{tag: "pause-work-pool", model: "PauseWorkPool", target: "work_pool"},
	{tag: "resume-work-pool", model: "ResumeWorkPool", target: "work_pool"},
}

// actionMembers is the union of actionKinds.
var actionMembers = func() []unionMember[Action] {
	out := make([]unionMember[Action], len(actionKinds))
	for i, k := range actionKinds {
		out[i] = unionMember[Action]{tag: k.tag, label: k.label(), keys: k.keys(), parse: k.parse}
	}
	return out
}()

func kindOf(tag string) (actionKind, bool) {
	for _, k := range actionKinds {
		if k.tag == tag {
			return k, true
		}
	}
	return actionKind{}, false
}

// label is how pydantic's error locations name the type: the models that
// select a target run an after-validator, which names itself.
func (k actionKind) label() string {
	if k.target == "" {
		return k.model
	}
	return "function-after[selected_" + k.target + "_requires_id(), " + k.model + "]"
}

func (k actionKind) targetKey() string { return k.target + "_id" }

// keys are the keys the type declares besides type.
func (k actionKind) keys() []string {
	var out []string
	if k.target != "" {
		out = append(out, "source", k.targetKey())
	}
	if k.write != nil {
		for _, f := range k.write(Action{})[1:] {
			out = append(out, f.key)
		}
	}
	return out
}

func (k actionKind) parse(obj map[string]json.RawMessage) (Action, error) {
	a := Action{Type: k.tag}
	r := &fieldReader{obj: obj}
	if k.target != "" {
		a.Source = SourceSelected
		if r.has("source", false) {
			_ = json.Unmarshal(obj["source"], &a.Source)
			if !isJSONString(obj["source"]) || a.Source != SourceSelected && a.Source != SourceInferred {
				r.fail("source", "Input should be 'selected' or 'inferred'")
			}
		}
		r.optID(k.targetKey(), &a.TargetID)
	}
	if k.fields != nil {
		k.fields(r, &a)
	}
	if r.err != nil || k.target == "" {
		return a, r.err
	}
	// Prefect's selected_<target>_requires_id, once the fields are valid.
	if selected := a.Source == SourceSelected; selected != (a.TargetID != nil) {
		why := "required"
		if !selected {
			why = "not allowed"
		}
		return a, Invalid("", "Value error, "+k.targetKey()+" is "+why)
	}
	return a, nil
}

func runDeploymentFields(r *fieldReader, a *Action) {
	a.Parameters, a.JobVariables = json.RawMessage("null"), json.RawMessage("null")
	r.object("parameters", &a.Parameters, true)
	r.object("job_variables", &a.JobVariables, true)
	if r.err == nil {
		checkParameterTemplates(r, a.Parameters)
	}
	r.seconds("schedule_after", &a.ScheduleAfter)
	if r.err == nil && a.ScheduleAfter < 0 {
		r.fail("schedule_after", "Value error, schedule_after must be non-negative")
	}
}

func runDeploymentJSON(a Action) orderedObject {
	return orderedObject{{"type", a.Type}, {"parameters", a.Parameters}, {"job_variables", a.JobVariables},
		{"schedule_after", a.ScheduleAfter}}
}

func changeStateFields(r *fieldReader, a *Action) {
	r.optStr("name", &a.StateName)
	if r.has("state", true) {
		_ = json.Unmarshal(r.obj["state"], &a.State)
		if !isJSONString(r.obj["state"]) || !a.State.Valid() {
			r.fail("state", "Input should be 'SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED', 'PAUSED' or 'CANCELLING'")
		}
	}
	r.optStr("message", &a.Message)
	r.boolean("force", &a.Force)
}

func changeStateJSON(a Action) orderedObject {
	return orderedObject{{"type", a.Type}, {"name", a.StateName}, {"state", a.State}, {"message", a.Message}, {"force", a.Force}}
}

func notificationFields(r *fieldReader, a *Action) {
	a.Subject = defaultNotificationSubject
	r.id("block_document_id", &a.BlockDocumentID, true)
	r.str("subject", &a.Subject, false)
	r.str("body", &a.Body, true)
	checkTemplate(r, "subject", a.Subject)
	checkTemplate(r, "body", a.Body)
}

func notificationJSON(a Action) orderedObject {
	return orderedObject{{"type", a.Type}, {"block_document_id", a.BlockDocumentID}, {"subject", a.Subject}, {"body", a.Body}}
}

func webhookFields(r *fieldReader, a *Action) {
	r.id("block_document_id", &a.BlockDocumentID, true)
	// Prefect still takes the payload's older form, an object, and keeps it
	// as its JSON text indented by two spaces.
	if raw := r.obj["payload"]; len(raw) > 0 && !isJSONString(raw) && !isJSONNull(raw) {
		var buf bytes.Buffer
		_ = json.Indent(&buf, compactJSON(raw), "", "  ")
		a.Payload = buf.String()
		return
	}
	r.str("payload", &a.Payload, false)
	checkTemplate(r, "payload", a.Payload)
}

func webhookJSON(a Action) orderedObject {
	return orderedObject{{"type", a.Type}, {"block_document_id", a.BlockDocumentID}, {"payload", a.Payload}}
}

// UnmarshalJSON validates the action; see Check.
func (a *Action) UnmarshalJSON(b []byte) error {
	parsed, err := parseUnion(b, actionMembers)
	*a = parsed
	a.invalid = err
	return nil
}

// Check reports the error of an action at loc.
func (a Action) Check(loc string) error { return withinLoc(loc, a.invalid) }

// MarshalJSON writes the fields of the action's type, in Prefect's order.
func (a Action) MarshalJSON() ([]byte, error) {
	k, ok := kindOf(a.Type)
	if !ok {
		return []byte("null"), nil
	}
	out := orderedObject{{"type", a.Type}}
	if k.target != "" {
		out = append(out, orderedField{"source", a.Source}, orderedField{k.targetKey(), a.TargetID})
	}
	if k.write != nil {
		out = append(out, k.write(a)[1:]...)
	}
	return json.Marshal(out)
}

// RunsDeployment returns the deployment a run-deployment action selects.
func (a Action) RunsDeployment() (uuid.UUID, bool) {
	if a.Type != ActionRunDeployment || a.Source != SourceSelected || a.TargetID == nil {
		return uuid.Nil, false
	}
	return *a.TargetID, true
}

// orderedObject is a JSON object written with its keys in order, as
// pydantic writes a model's fields.
type orderedObject []orderedField

type orderedField struct {
	key   string
	value any
}

// MarshalJSON writes the fields in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// checkTemplate is Prefect's validate_template for a field: markup that
// the automations' Jinja cannot parse is refused when the automation is
// saved, not when it fires.
func checkTemplate(r *fieldReader, key, value string) {
	if !strings.Contains(value, "{{") && !strings.Contains(value, "{%") {
		return
	}
	if err := templates.Validate(value); err != nil {
		r.fail(key, "Value error, '"+key+"' is not a valid template: "+err.Error())
	}
}

// checkParameterTemplates refuses run-deployment parameters holding
// templates that do not parse: a string with markup, or a jinja value.
func checkParameterTemplates(r *fieldReader, raw json.RawMessage) {
	var params any
	if json.Unmarshal(raw, &params) != nil {
		return
	}
	var problems []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case string:
			if strings.Contains(x, "{{") || strings.Contains(x, "{%") {
				if err := templates.Validate(x); err != nil {
					problems = append(problems, prefix+": Invalid jinja: "+err.Error())
				}
			}
		case map[string]any:
			if x["__prefect_kind"] == "jinja" {
				if t, ok := x["template"].(string); ok {
					walk(prefix, t)
				}
				return
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x[k])
			}
		case []any:
			for i, e := range x {
				walk(prefix+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	walk("", params)
	if len(problems) > 0 {
		r.fail("parameters", "Value error, Invalid parameters: \n"+strings.Join(problems, "\n  "))
	}
}
