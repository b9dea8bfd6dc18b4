// Package templates renders the Jinja templates users write into
// automations (notification subjects and bodies, webhook payloads,
// run-deployment parameters), with gonja, in a sandbox: Jinja's filters,
// tests and statements, but nothing that reaches outside the template
// (extends, include, import, from) and no global functions (range,
// lipsum ...): a template sees only the context it is given.
package templates

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// statements are Jinja's, less those that load other templates.
var statements = func() *exec.ControlStructureSet {
	out := map[string]parser.ControlStructureParser{}
	for _, name := range []string{"autoescape", "block", "filter", "for", "if", "macro", "raw", "set", "with", "break", "continue", "call"} {
		if p, ok := controlStructures.All.Get(name); ok {
			out[name] = p
		}
	}
	return exec.NewControlStructureSet(out)
}()

// Links is what Prefect's ui_url and ui_resource_events_url filters need:
// the UI's address (empty: they render None, as Prefect's do without
// PREFECT_UI_URL) and the kind of each object in the context by id
// (flow-run, deployment, automation ...), since the context holds plain
// values.
type Links struct {
	UI    string
	Kinds map[string]string
}

// uiPaths are the UI's pages by kind, as Prefect's UI_URL_FORMATS.
var uiPaths = map[string]string{
	"flow": "flows/flow/", "flow-run": "runs/flow-run/", "task-run": "runs/task-run/",
	"block-document": "blocks/block/", "work-pool": "work-pools/work-pool/", "work-queue": "work-queues/work-queue/",
	"concurrency-limit": "concurrency-limits/concurrency-limit/", "deployment": "deployments/deployment/",
	"automation": "automations/automation/",
}

var flowRunIn = regexp.MustCompile(`flow-run/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)

// kindAndID names an object of the context: a resource by its
// prefect.resource.id, anything else by its id and l.Kinds.
func (l Links) kindAndID(v any) (string, string) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", ""
	}
	if rid, ok := m["prefect.resource.id"].(string); ok {
		i := strings.LastIndex(rid, ".")
		if !strings.HasPrefix(rid, "prefect.") || i < 0 {
			return "", ""
		}
		return strings.TrimPrefix(rid[:i], "prefect."), rid[i+1:]
	}
	id, _ := m["id"].(string)
	if kind := l.Kinds[id]; kind == "work-pool" {
		name, _ := m["name"].(string)
		return kind, name // the UI names pools by name
	} else if kind != "" {
		return kind, id
	}
	return "", ""
}

func (l Links) environment() *exec.Environment {
	none := func() *exec.Value { return exec.AsValue(nil) }
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{
		"ui_url": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			kind, id := l.kindAndID(in.Interface())
			path, ok := uiPaths[kind]
			if l.UI == "" || !ok || id == "" {
				return none()
			}
			return exec.AsValue(strings.TrimSuffix(l.UI, "/") + "/" + path + url.PathEscape(id))
		},
		"ui_resource_events_url": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			kind, id := l.kindAndID(in.Interface())
			if l.UI == "" || kind == "" || id == "" {
				return none()
			}
			return exec.AsValue(strings.TrimSuffix(l.UI, "/") + "/events?resource=prefect." + kind + "." + id)
		},
		"flow_run_id": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			if m := flowRunIn.FindStringSubmatch(in.String()); m != nil {
				return exec.AsValue(m[1])
			}
			return none()
		},
	})
	filters.Update(builtins.Filters)
	return &exec.Environment{
		Context:           exec.NewContext(map[string]any{}),
		Filters:           filters,
		Tests:             builtins.Tests,
		ControlStructures: statements,
		Methods:           builtins.Methods,
	}
}

var environment = Links{}.environment()

// compile parses a template with nothing to load but itself.
func compile(source string) (*exec.Template, error) {
	return compileIn(source, environment)
}

func compileIn(source string, env *exec.Environment) (*exec.Template, error) {
	loader, err := loaders.NewMemoryLoader(map[string]string{"/template": source})
	if err != nil {
		return nil, err
	}
	return exec.NewTemplate("/template", gonja.DefaultConfig, loader, env)
}

// Validate says whether source is a template this server can render.
func Validate(source string) error {
	_, err := compile(source)
	return err
}

// Render renders source with the context c and the links of l.
func Render(source string, c map[string]any, l Links) (string, error) {
	tpl, err := compileIn(source, l.environment())
	if err != nil {
		return "", err
	}
	return tpl.ExecuteToString(exec.NewContext(c))
}

var lineOf = regexp.MustCompile(`[Ll]ine[ :]*(\d+)`)

// Line is the line an error names, or 1.
func Line(err error) int {
	if m := lineOf.FindStringSubmatch(err.Error()); m != nil {
		if n, e := strconv.Atoi(m[1]); e == nil {
			return n
		}
	}
	return 1
}
