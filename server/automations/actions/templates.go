package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/templates"
)

// objectKinds are the objects a template may name, read from the API by
// the first resource of their kind in the triggering event, as Prefect's
// _relevant_native_objects reads them (a work queue with its status).
var objectKinds = map[string]struct{ kind, path string }{
	"deployment":        {"prefect.deployment", "/deployments/"},
	"flow":              {"prefect.flow", "/flows/"},
	"flow_run":          {"prefect.flow-run", "/flow_runs/"},
	"task_run":          {"prefect.task-run", "/task_runs/"},
	"work_queue":        {"prefect.work-queue", "/work_queues/"},
	"work_pool":         {"prefect.work-pool", ""},
	"concurrency_limit": {"prefect.concurrency-limit", "/v2/concurrency_limits/"},
}

// contextNames are the names whose objects are loaded for a template.
var contextNames = []string{"deployment", "flow", "flow_run", "task_run", "work_pool", "work_queue", "concurrency_limit", "variables"}

// templateContext is what Prefect gives a template: the automation, the
// event, the labels, the firing(s), and the objects the templates name
// (none without a triggering event: those names are then undefined).
func (a *Actor) templateContext(ctx context.Context, ta automations.TriggeredAction, tpls []string) map[string]any {
	firings := allFirings(ta.Firing)
	firingValues := make([]any, len(firings))
	var events []any
	for i, f := range firings {
		firingValues[i] = templates.Object("firing", mustJSON(f))
		if f.TriggeringEvent != nil {
			events = append(events, eventValue(f.TriggeringEvent))
		}
	}
	c := map[string]any{
		"automation": templates.Object("automation", mustJSON(ta.Automation)),
		"event":      eventValue(ta.TriggeringEvent),
		"labels":     templates.Labels(ta.TriggeringLabels),
		"firing":     templates.Object("firing", mustJSON(ta.Firing)),
		"firings":    firingValues,
		"events":     append([]any{}, events...),
	}
	if ta.TriggeringEvent == nil {
		return c
	}
	for _, name := range templates.Names(tpls, contextNames) {
		if name == "variables" {
			vars := templates.Dict{}
			for k, v := range a.variables(ctx, ta, nil) {
				vars[k] = templates.FromJSON(v)
			}
			c[name] = vars
			continue
		}
		c[name] = a.readObject(ctx, ta, name)
	}
	return c
}

// eventValue is an event as a template sees it: a ReceivedEvent.
func eventValue(e *schema.Event) any {
	if e == nil {
		return templates.None
	}
	return templates.Object("event", mustJSON(e))
}

// readObject reads the event's first resource of the name's kind from the
// API (None when there is none, or the API answers no); a flow or task run
// carries the state the event recorded, which may be older than the one
// the API has now, as Prefect does.
func (a *Actor) readObject(ctx context.Context, ta automations.TriggeredAction, name string) any {
	k := objectKinds[name]
	e := *ta.TriggeringEvent
	var res schema.Resource
	var id uuid.UUID
	for _, r := range append([]schema.Resource{e.Resource}, e.Related...) {
		if i := strings.LastIndex(r.ID(), "."); i >= 0 && r.ID()[:i] == k.kind {
			res = r
			break
		}
	}
	if res == nil {
		return templates.None
	}
	parsed, err := uuid.Parse(res.ID()[strings.LastIndex(res.ID(), ".")+1:])
	if err != nil {
		return templates.None
	}
	id = parsed
	var status int
	var body []byte
	switch name {
	case "work_pool": // read by id through the filter
		status, body = a.call(ctx, ta, http.MethodPost, "/work_pools/filter",
			map[string]any{"work_pools": map[string]any{"id": map[string]any{"any_": []string{id.String()}}}})
		var list []json.RawMessage
		if status >= 300 || json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return templates.None
		}
		return templates.Object(name, list[0])
	case "work_queue": // the queue and its status, merged
		var q, st map[string]json.RawMessage
		status, body = a.call(ctx, ta, http.MethodGet, k.path+id.String(), nil)
		if status >= 300 || json.Unmarshal(body, &q) != nil {
			return templates.None
		}
		status, body = a.call(ctx, ta, http.MethodGet, k.path+id.String()+"/status", nil)
		if status >= 300 || json.Unmarshal(body, &st) != nil {
			return templates.None
		}
		for key, v := range st {
			q[key] = v
		}
		return templates.Object(name, mustJSON(q))
	}
	status, body = a.call(ctx, ta, http.MethodGet, k.path+id.String(), nil)
	if status >= 300 {
		return templates.None
	}
	obj := templates.Object(name, body)
	if m, ok := obj.(*templates.Model); ok && (name == "flow_run" || name == "task_run") {
		if st, ok := stateOf(res); ok {
			m.SetField("state", st)
		}
	}
	return obj
}

// stateOf is the state an event's resource labels record, as Prefect
// builds it: a new State with just those four fields.
func stateOf(r schema.Resource) (any, bool) {
	for _, k := range []string{"prefect.state-message", "prefect.state-name", "prefect.state-timestamp", "prefect.state-type"} {
		if _, ok := r[k]; !ok {
			return nil, false
		}
	}
	details := map[string]any{"flow_run_id": nil, "task_run_id": nil, "child_flow_run_id": nil, "scheduled_time": nil,
		"cache_key": nil, "cache_expiration": nil, "deferred": false, "untrackable_result": false, "pause_timeout": nil,
		"pause_reschedule": false, "pause_key": nil, "run_input_keyset": nil, "refresh_cache": nil, "retriable": nil,
		"transition_id": nil, "task_parameters_id": nil, "traceparent": nil, "deployment_concurrency_lease_id": nil}
	return templates.Object("state", mustJSON(map[string]any{"id": uuid.Must(uuid.NewV7()), "type": r["prefect.state-type"],
		"name": r["prefect.state-name"], "timestamp": r["prefect.state-timestamp"], "message": r["prefect.state-message"],
		"data": nil, "state_details": details})), true
}

// variables reads the workspace's variables (those named, or all of them)
// as Prefect's read_workspace_variables does: 200 at a time, at most 1000.
func (a *Actor) variables(ctx context.Context, ta automations.TriggeredAction, names []string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	filter := map[string]any{}
	if names != nil {
		filter["name"] = map[string]any{"any_": names}
	}
	for offset := 0; offset < 1000; offset += 200 {
		status, body := a.call(ctx, ta, http.MethodPost, "/variables/filter",
			map[string]any{"variables": filter, "limit": 200, "offset": offset})
		var vars []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		}
		if status >= 300 || json.Unmarshal(body, &vars) != nil {
			return out
		}
		for _, v := range vars {
			out[v.Name] = v.Value
		}
		if len(vars) < 200 {
			return out
		}
	}
	return out
}

// render renders the templates with their context; a template that fails
// fails the action, with the error in the details, as in Prefect.
func (a *Actor) render(ctx context.Context, ta automations.TriggeredAction, out *outcome, tpls ...string) ([]string, error) {
	c := a.templateContext(ctx, ta, tpls)
	r := templates.Renderer{UIURL: a.UIURL}
	rendered := make([]string, len(tpls))
	for i, t := range tpls {
		s, err := r.Render(t, c)
		var rerr *templates.RenderError
		if errors.As(err, &rerr) {
			out.details["template_error"] = rerr.Error()
			out.details["template_source"] = t
			return nil, fail("Template rendering failed: %s", rerr.Cause())
		}
		rendered[i] = s
	}
	return rendered, nil
}

func allFirings(f automations.Firing) []automations.Firing {
	out := []automations.Firing{f}
	for _, c := range f.TriggeringFirings {
		out = append(out, allFirings(c)...)
	}
	return out
}

// renderParameters renders a run-deployment action's parameters as
// Prefect's render_parameters does: strings with Jinja markup become
// templates first (one expression keeps its JSON type), then a hydration
// without rendering finds the templates and variables the parameters use,
// and a second one renders them with their context and the variables'
// values. A placeholder that cannot be resolved fails the action.
func (a *Actor) renderParameters(ctx context.Context, ta automations.TriggeredAction) (map[string]any, error) {
	params := map[string]any{}
	if raw := ta.Action.Parameters; len(raw) > 0 && string(raw) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&params); err != nil {
			return nil, fail("Unable to create flow run from deployment: %v", err)
		}
	}
	upgradeV1Templates(params)
	first, err := templates.Hydrate(params, templates.HydrationContext{})
	if err != nil {
		return nil, err
	}
	var tpls, names []string
	for _, p := range templates.Placeholders(first) {
		switch x := p.(type) {
		case templates.ValidJinja:
			tpls = append(tpls, x.Template)
		case templates.WorkspaceVariable:
			names = append(names, x.Name)
		}
	}
	c := a.templateContext(ctx, ta, tpls)
	vars := map[string]json.RawMessage{}
	if len(names) > 0 {
		vars = a.variables(ctx, ta, names)
	}
	hydrated, err := templates.Hydrate(params, templates.HydrationContext{RaiseOnError: true, RenderJinja: true,
		Render: templates.Renderer{UIURL: a.UIURL}.Render, JinjaContext: c, RenderVariables: true,
		Variable: func(name string) (any, bool, error) {
			raw, ok := vars[name]
			var v any
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			_ = d.Decode(&v)
			return v, ok, nil
		}})
	var herr *templates.HydrationError
	if errors.As(err, &herr) {
		return nil, fail("Unable to create flow run from deployment: %s()", herr.Kind)
	}
	if err != nil {
		return nil, err
	}
	out, _ := hydrated.(map[string]any)
	return out, nil
}

// upgradeV1Templates is Prefect's _upgrade_v1_templates: a string with
// Jinja markup becomes a jinja placeholder, wrapped to parse as JSON when
// it is one expression (so "{{ n }}" stays a number).
func upgradeV1Templates(params map[string]any) {
	for k, v := range params {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["__prefect_kind"]; !ok {
				upgradeV1Templates(x)
			}
		case []any:
			for i, item := range x {
				switch it := item.(type) {
				case map[string]any:
					upgradeV1Templates(it)
				case string:
					if templates.MaybeTemplate(it) {
						x[i] = wrapV1Template(it)
					}
				}
			}
		case string:
			if templates.MaybeTemplate(x) {
				params[k] = wrapV1Template(x)
			}
		}
	}
}

func wrapV1Template(t string) map[string]any {
	s := strings.TrimSpace(t)
	if strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}") && strings.Count(s, "{{") == 1 {
		return map[string]any{"__prefect_kind": "json", "value": map[string]any{"__prefect_kind": "jinja",
			"template": "{{ " + strings.TrimSpace(s[2:len(s)-2]) + " | tojson }}"}}
	}
	return map[string]any{"__prefect_kind": "jinja", "template": t}
}
