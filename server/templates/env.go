package templates

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures_ "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// rootID names the one template a parse reads.
const rootID = "template"

// sourceLoader hands the parser the template's text and refuses every
// other: a user template includes, imports and extends nothing (Prefect's
// environment has no loader either).
type sourceLoader struct{ src string }

func (l sourceLoader) Read(path string) (io.Reader, error) {
	if path != rootID {
		return nil, fmt.Errorf("no loader for this environment specified")
	}
	return strings.NewReader(l.src), nil
}

func (l sourceLoader) Resolve(path string) (string, error) {
	if path != rootID {
		return "", fmt.Errorf("no loader for this environment specified")
	}
	return path, nil
}

func (l sourceLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// parse parses src as a template of the environment.
func parse(src string) (*exec.Template, error) {
	t, err := exec.NewTemplate(rootID, templateConfig, sourceLoader{src}, environment)
	if err != nil {
		return nil, cause(err)
	}
	return t, nil
}

// controlStructures are Jinja's own tags; do, break, continue and trans
// come from extensions Prefect does not load.
var controlStructures = func() *exec.ControlStructureSet {
	set := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{})
	set.Update(controlStructures_.All)
	all := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{})
	for _, name := range []string{"autoescape", "block", "extends", "filter", "for", "from", "if", "import",
		"include", "macro", "raw", "set", "with", "call"} {
		if p, ok := set.Get(name); ok {
			_ = all.Register(name, p)
		}
	}
	return all
}()

// maxRange is Prefect's MAX_TEMPLATE_RANGE.
const maxRange = 100

// globals are Jinja's global functions, range limited as Prefect limits it.
var globals = func() *exec.Context {
	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	ctx.Set("range", func(args *exec.VarArgs) ([]int, error) {
		start, step := 0, 1
		var stop int
		for _, a := range args.Args {
			if !a.IsInteger() {
				return nil, &pyError{"TypeError", fmt.Sprintf("'%s' object cannot be interpreted as an integer", pyTypeOf(a.Interface()))}
			}
		}
		switch len(args.Args) {
		case 1:
			stop = args.Args[0].Integer()
		case 2:
			start, stop = args.Args[0].Integer(), args.Args[1].Integer()
		case 3:
			start, stop, step = args.Args[0].Integer(), args.Args[1].Integer(), args.Args[2].Integer()
		default:
			return nil, &pyError{"TypeError", fmt.Sprintf("range expected at most 3 arguments, got %d", len(args.Args))}
		}
		if step == 0 {
			return nil, &pyError{"ValueError", "range() arg 3 must not be zero"}
		}
		n := 0
		if step > 0 && stop > start {
			n = (stop - start + step - 1) / step
		} else if step < 0 && start > stop {
			n = (start - stop - step - 1) / -step
		}
		if n > maxRange {
			return nil, &pyError{"OverflowError", fmt.Sprintf("Range too big. The sandbox blocks ranges larger than MAX_TEMPLATE_RANGE=%d.", maxRange)}
		}
		out := make([]int, n)
		for i := range out {
			out[i] = start + i*step
		}
		return out, nil
	})
	return ctx
}()

func pyTypeOf(v any) string {
	switch v.(type) {
	case string:
		return "str"
	case float64:
		return "float"
	case noneValue:
		return "NoneType"
	}
	return "object"
}

// prefectFilters are the filters Prefect adds or changes.
var prefectFilters = map[string]exec.FilterFunction{
	"tojson": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		indent := -1
		if v, ok := params.KwArgs["indent"]; ok && !isNone(v.Interface()) {
			indent = v.Integer()
		} else if len(params.Args) > 0 && !isNone(params.Args[0].Interface()) {
			indent = params.Args[0].Integer()
		}
		out, err := toJSON(in.Interface(), indent)
		if err != nil {
			return exec.AsValue(err)
		}
		return exec.AsSafeValue(out)
	},
	// default gives its argument for an undefined value (and for a false
	// one with boolean=True), never for None.
	"default": jinjaDefault,
	"d":       jinjaDefault,
	"ui_url": func(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		return exec.AsValue(uiURL(contextUIURL(e), in.Interface()))
	},
	"ui_resource_events_url": func(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		return exec.AsValue(uiResourceEventsURL(contextUIURL(e), in.Interface()))
	},
	"flow_run_id": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		s, ok := in.Interface().(string)
		if !ok || s == "" {
			return exec.AsValue(None)
		}
		if m := flowRunIDPattern.FindStringSubmatch(s); m != nil {
			return exec.AsValue(m[1])
		}
		return exec.AsValue(None)
	},
}

var flowRunIDPattern = regexp.MustCompile(`flow-run/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)

func jinjaDefault(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	def := exec.AsValue("")
	if len(params.Args) > 0 {
		def = params.Args[0]
	} else if v, ok := params.KwArgs["default_value"]; ok {
		def = v
	}
	boolean := false
	if len(params.Args) > 1 {
		boolean = params.Args[1].IsTrue()
	} else if v, ok := params.KwArgs["boolean"]; ok {
		boolean = v.IsTrue()
	}
	if isUndefined(in.Interface()) || boolean && !in.IsTrue() {
		return def
	}
	return in
}

// jinjaTests are Jinja's none, defined and undefined, which know None from
// undefined.
var jinjaTests = map[string]exec.TestFunction{
	"none": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
		return isNone(in.Interface()), nil
	},
	"defined": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
		return !isUndefined(in.Interface()), nil
	},
	"undefined": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
		return isUndefined(in.Interface()), nil
	},
}

func contextUIURL(e *exec.Evaluator) string {
	v, _ := e.Environment.Context.Get(uiURLKey)
	s, _ := v.(string)
	return s
}

// uiPaths are Prefect's UI_URL_FORMATS for the objects a template sees,
// by model class.
var uiPaths = map[string]string{
	"FlowRunResponse":     "runs/flow-run/",
	"TaskRun":             "runs/task-run/",
	"Flow":                "flows/flow/",
	"WorkQueueWithStatus": "work-queues/work-queue/",
	"Automation":          "automations/automation/",
}

// uiURL is Prefect's url_for(obj, "ui") as the server's objects reach it:
// a deployment response and a concurrency limit have no UI URL there, a
// work pool is linked by name, an event by its date and id.
func uiURL(base string, obj any) any {
	m, ok := obj.(*Model)
	if !ok || base == "" {
		return None
	}
	var path string
	switch m.class {
	case "WorkPool":
		name, _ := m.fields["name"].(string)
		path = "work-pools/work-pool/" + url.PathEscape(name)
	case "ReceivedEvent":
		occurred, _ := m.fields["occurred"].(DateTime)
		id := text(m.fields["id"])
		path = "events/event/" + occurred.t.Format("2006-01-02") + "/" + url.PathEscape(id)
	default:
		prefix, known := uiPaths[m.class]
		if !known {
			return None
		}
		id := text(m.fields["id"])
		if id == "" {
			return ""
		}
		path = prefix + url.PathEscape(id)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return joinURL(base, path)
}

// modelResourceKinds are Prefect's model_to_kind, by class: it names core
// models, so a flow run or deployment response has none.
var modelResourceKinds = map[string]string{
	"TaskRun": "prefect.task-run", "Flow": "prefect.flow", "WorkQueueWithStatus": "prefect.work-queue",
	"WorkPool": "prefect.work-pool",
}

// uiResourceEventsURL is Prefect's ui_resource_events_url: the UI's events
// page filtered to the object's resource.
func uiResourceEventsURL(base string, obj any) any {
	var resourceID string
	switch x := obj.(type) {
	case Resource:
		resourceID = x["prefect.resource.id"]
	case *Model:
		id := text(x.fields["id"])
		if x.class == "Automation" {
			resourceID = "prefect.automation." + id
		} else if k, ok := modelResourceKinds[x.class]; ok {
			resourceID = k + "." + id
		}
	}
	if resourceID == "" {
		return None
	}
	return joinURL(base, "events?resource="+resourceID)
}

// joinURL is urllib's urljoin of a relative path onto a base URL (none:
// the path alone).
func joinURL(base, path string) string {
	if base == "" {
		return path
	}
	b, err := url.Parse(base)
	if err != nil {
		return base + path
	}
	ref, err := url.Parse(path)
	if err != nil {
		return base + path
	}
	return b.ResolveReference(ref).String()
}

// text is a string field's text, a UUID's included.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case UUID:
		return string(x)
	}
	return ""
}
