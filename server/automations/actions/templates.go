package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/templates"
)

// maybeTemplate is Prefect's maybe_template: the string has Jinja markup.
func maybeTemplate(s string) bool { return strings.Contains(s, "{{") || strings.Contains(s, "{%") }

// objectKinds are the objects a template may name, read from the API by
// the first resource of their kind in the triggering event.
var objectKinds = map[string]struct{ kind, path string }{
	"deployment": {"prefect.deployment", "/deployments/"},
	"flow":       {"prefect.flow", "/flows/"},
	"flow_run":   {"prefect.flow-run", "/flow_runs/"},
	"task_run":   {"prefect.task-run", "/task_runs/"},
	"work_queue": {"prefect.work-queue", "/work_queues/"},
	"work_pool":  {"prefect.work-pool", ""},
}

var identifier = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// namesIn are the identifiers in the templates' markup.
func namesIn(templates []string) map[string]bool {
	out := map[string]bool{}
	for _, t := range templates {
		for _, id := range identifier.FindAllString(t, -1) {
			out[id] = true
		}
	}
	return out
}

// toMap turns a value into the maps and lists a template walks, whole
// numbers staying integers (7 renders as 7, as in Python, not 7.0).
func toMap(v any) any {
	return decodeJSON(mustJSON(v))
}

func decodeJSON(raw []byte) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var out any
	if d.Decode(&out) != nil {
		return nil
	}
	return numbers(out)
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// eventMap is an event as a template sees it: its resources answer .id,
// .name and .role as Prefect's Resource does, besides their labels.
func eventMap(e *schema.Event) any {
	m, ok := toMap(e).(map[string]any)
	if !ok {
		return nil
	}
	withNames := func(r any) {
		if res, ok := r.(map[string]any); ok {
			res["id"], res["name"], res["role"] = res["prefect.resource.id"], res["prefect.resource.name"], res["prefect.resource.role"]
		}
	}
	withNames(m["resource"])
	if rel, ok := m["related"].([]any); ok {
		for _, r := range rel {
			withNames(r)
		}
	}
	return m
}

// templateContext is what Prefect gives a template: the automation, the
// event, the labels, the firing(s), and the objects the templates name.
func (a *Actor) templateContext(ctx context.Context, ta automations.TriggeredAction, sources []string) (map[string]any, templates.Links) {
	links := templates.Links{UI: a.UIURL, Kinds: map[string]string{ta.Automation.ID.String(): "automation"}}
	c := map[string]any{
		"automation": toMap(ta.Automation),
		"event":      eventMap(ta.TriggeringEvent),
		"labels":     toMap(ta.TriggeringLabels),
		"firing":     toMap(ta.Firing),
		"firings":    toMap(allFirings(ta.Firing)),
		"events":     allEvents(ta.Firing),
	}
	if ta.TriggeringEvent == nil {
		return c, links
	}
	names := namesIn(sources)
	for name, k := range objectKinds {
		if !names[name] {
			continue
		}
		obj := a.readObject(ctx, ta, name, k.kind, k.path)
		c[name] = obj
		if m, ok := obj.(map[string]any); ok {
			if id, ok := m["id"].(string); ok {
				links.Kinds[id] = strings.TrimPrefix(k.kind, "prefect.")
			}
		}
	}
	if names["variables"] {
		status, body := a.call(ctx, ta, http.MethodPost, "/variables/filter", map[string]any{})
		var vars []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		}
		values := map[string]any{}
		if status < 300 && json.Unmarshal(body, &vars) == nil {
			for _, v := range vars {
				values[v.Name] = v.Value
			}
		}
		c["variables"] = values
	}
	return c, links
}

// readObject reads the event's first resource of kind from the API; a flow
// or task run carries the state the event recorded, which may be older
// than the one the API has now, as Prefect does.
func (a *Actor) readObject(ctx context.Context, ta automations.TriggeredAction, name, kind, path string) any {
	e := *ta.TriggeringEvent
	for _, res := range append([]schema.Resource{e.Resource}, e.Related...) {
		id, ok := idOfKind(res.ID(), kind)
		if !ok {
			continue
		}
		var status int
		var body []byte
		if path == "" { // work pools are read by id through the filter
			status, body = a.call(ctx, ta, http.MethodPost, "/work_pools/filter",
				map[string]any{"work_pools": map[string]any{"id": map[string]any{"any_": []string{id.String()}}}})
			var list []any
			if status >= 300 || json.Unmarshal(body, &list) != nil || len(list) == 0 {
				return nil
			}
			return list[0]
		}
		status, body = a.call(ctx, ta, http.MethodGet, path+id.String(), nil)
		obj, _ := decodeJSON(body).(map[string]any)
		if status >= 300 || obj == nil {
			return nil
		}
		if name == "flow_run" || name == "task_run" {
			if st, ok := stateOf(res); ok {
				obj["state"] = st
			}
		}
		return obj
	}
	return nil
}

// stateOf is the state an event's resource labels record.
func stateOf(r schema.Resource) (map[string]any, bool) {
	for _, k := range []string{"prefect.state-message", "prefect.state-name", "prefect.state-timestamp", "prefect.state-type"} {
		if _, ok := r[k]; !ok {
			return nil, false
		}
	}
	return map[string]any{"message": r["prefect.state-message"], "name": r["prefect.state-name"],
		"timestamp": r["prefect.state-timestamp"], "type": r["prefect.state-type"]}, true
}

// render renders the templates with their context; a template that fails
// fails the action, with the error in the details, as in Prefect.
func (a *Actor) render(ctx context.Context, ta automations.TriggeredAction, out *outcome, sources ...string) ([]string, error) {
	c, links := a.templateContext(ctx, ta, sources)
	rendered := make([]string, len(sources))
	for i, t := range sources {
		s, err := templates.Render(t, c, links)
		if err != nil {
			out.details["template_error"] = err.Error()
			out.details["template_source"] = t
			return nil, fail("Template rendering failed: %v", err)
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

func allEvents(f automations.Firing) []any {
	out := []any{}
	for _, fi := range allFirings(f) {
		if fi.TriggeringEvent != nil {
			out = append(out, eventMap(fi.TriggeringEvent))
		}
	}
	return out
}

// renderParameters renders a run-deployment action's parameters: a string
// with Jinja markup is a template (one expression keeps its JSON type, as
// Prefect's v1 templates do), as is a {"__prefect_kind": "jinja"} value and
// a json value holding one; other placeholders are the API's to hydrate.
func (a *Actor) renderParameters(ctx context.Context, ta automations.TriggeredAction, out *outcome) (map[string]any, error) {
	raw := ta.Action.Parameters
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var params map[string]any
	if err := json.Unmarshal(raw, &params); err != nil {
		return nil, fail("Unable to create flow run from deployment: %v", err)
	}
	var sources []string
	collectTemplates(params, &sources)
	if len(sources) == 0 {
		return params, nil
	}
	c, links := a.templateContext(ctx, ta, sources)
	rendered, err := renderValue(params, func(t string) (string, error) { return templates.Render(t, c, links) })
	if err != nil {
		out.details["template_error"] = err.Error()
		return nil, fail("Template rendering failed: %v", err)
	}
	return rendered.(map[string]any), nil
}

func collectTemplates(v any, into *[]string) {
	switch x := v.(type) {
	case string:
		if maybeTemplate(x) {
			*into = append(*into, x)
		}
	case map[string]any:
		for _, e := range x {
			collectTemplates(e, into)
		}
	case []any:
		for _, e := range x {
			collectTemplates(e, into)
		}
	}
}

var singleExpression = regexp.MustCompile(`^\{\{(.*)\}\}$`)

func renderValue(v any, render func(string) (string, error)) (any, error) {
	switch x := v.(type) {
	case string:
		if !maybeTemplate(x) {
			return x, nil
		}
		s := strings.TrimSpace(x)
		if m := singleExpression.FindStringSubmatch(s); m != nil && strings.Count(s, "{{") == 1 {
			js, err := render("{{ " + strings.TrimSpace(m[1]) + " | tojson }}")
			if err != nil {
				return nil, err
			}
			var out any
			if err := json.Unmarshal([]byte(js), &out); err != nil {
				return nil, fmt.Errorf("the template %q did not render JSON: %w", x, err)
			}
			return out, nil
		}
		return render(x)
	case map[string]any:
		switch x["__prefect_kind"] {
		case "jinja":
			t, _ := x["template"].(string)
			return render(t)
		case "json":
			if inner, ok := x["value"].(map[string]any); ok && inner["__prefect_kind"] == "jinja" {
				t, _ := inner["template"].(string)
				s, err := render(t)
				if err != nil {
					return nil, err
				}
				var out any
				if err := json.Unmarshal([]byte(s), &out); err != nil {
					return nil, fmt.Errorf("the template %q did not render JSON: %w", t, err)
				}
				return out, nil
			}
			return x, nil
		case nil:
		default:
			return x, nil // workspace variables and the like: the API hydrates them
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := renderValue(e, render)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderValue(e, render)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}
