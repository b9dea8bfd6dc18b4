package templates

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// RenderError is a template that failed to render: Prefect's
// TemplateRenderError, whose message the action's failure reason quotes.
type RenderError struct {
	Template string
	Err      error
}

func (e *RenderError) Error() string {
	return "Failed to render template due to the following error: " + e.Cause()
}

func (e *RenderError) Unwrap() error { return e.Err }

// Cause is Python's repr() of the error the template raised, as Prefect
// quotes it: TypeError('Object of type ChainableUndefined is not JSON
// serializable').
func (e *RenderError) Cause() string {
	var p *pyError
	if errors.As(e.Err, &p) {
		return p.typ + "(" + pyStrRepr(p.msg) + ")"
	}
	msg := e.Err.Error()
	// gonja words a function's or a filter's error into its own message.
	if m := invalidCall.FindStringSubmatch(msg); m != nil {
		msg = m[1]
		for prefix, typ := range calledErrors {
			if strings.HasPrefix(msg, prefix) {
				return typ + "(" + pyStrRepr(msg) + ")"
			}
		}
	}
	return "TemplateError(" + pyStrRepr(msg) + ")"
}

var invalidCall = regexp.MustCompile(`invalid call to (?:function|filter) '[^']*': (.*)$`)

// calledErrors are the Python types of the errors our global functions
// raise, by the start of their messages.
var calledErrors = map[string]string{
	"Range too big": "OverflowError", "range() arg 3": "ValueError", "range expected": "TypeError",
	"'": "TypeError", "Object of type": "TypeError",
}

// pyError is an error a template raises, with the Python exception type
// Prefect's Jinja would raise for it.
type pyError struct{ typ, msg string }

func (e *pyError) Error() string { return e.msg }

// Renderer renders user templates as Prefect's sandboxed Jinja does, with
// its filters (tojson, ui_url, ui_resource_events_url, flow_run_id).
type Renderer struct {
	// UIURL is the UI's base URL, which the ui_url filters link to; empty
	// makes them None, as Prefect's do when PREFECT_UI_URL is unset.
	UIURL string
}

// MaybeTemplate says whether s has template syntax: text without it renders
// as itself.
func MaybeTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%")
}

// Render renders src with the context's values (see Object and FromJSON).
// A name the context lacks is undefined.
func (r Renderer) Render(src string, context map[string]any) (out string, err error) {
	if !MaybeTemplate(src) {
		return src, nil
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = "", &RenderError{Template: src, Err: fmt.Errorf("%v", p)}
		}
	}()
	t, err := parse(src)
	if err != nil {
		return "", &RenderError{Template: src, Err: &pyError{"TemplateSyntaxError", jinjaSyntaxError(err).Message}}
	}
	data := map[string]any{}
	// A name the template reads that the context lacks is undefined, not
	// Go's nil, so its attributes are undefined too.
	for _, name := range loadedNames(src) {
		if _, global := globals.Get(name); !global {
			data[name] = undefined
		}
	}
	for k, v := range context {
		data[k] = v
	}
	// Jinja's lowercase constant, which gonja reads as a name.
	data["none"] = None
	data[uiURLKey] = r.UIURL
	var b strings.Builder
	if err := t.Execute(&limitedWriter{w: &b, n: maxOutput}, exec.NewContext(data)); err != nil {
		return "", &RenderError{Template: src, Err: cause(err)}
	}
	return b.String(), nil
}

// uiURLKey carries the UI URL to the filters through the context; it is
// no name a template can write.
const uiURLKey = "\x00ui_url"

// maxOutput bounds what one template may render.
const maxOutput = 10 << 20

type limitedWriter struct {
	w io.Writer
	n int
}

var errTooLong = errors.New("the rendered template is longer than 10 MiB")

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errTooLong
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// cause strips gonja's wrapping ("unable to execute template: ...") down to
// the innermost message.
func cause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// loadedNames are the names src reads (and some it does not: attribute
// names and keywords, which are harmless here).
func loadedNames(src string) []string {
	var out []string
	for st := tokens.LexAll(src, templateConfig); !st.End(); st.Next() {
		if t := st.Current(); t.Type == tokens.Name {
			out = append(out, t.Val)
		}
	}
	return out
}

// templateConfig is Jinja's default syntax.
var templateConfig = config.New()

// environment is gonja's builtins less what Prefect's sandbox does not
// offer (the extension tags do, break, continue and trans; loading other
// templates), with Prefect's filters and Jinja's meaning of default, none
// and defined.
var environment = func() *exec.Environment {
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{})
	filters.Update(builtins.Filters)
	for name, f := range prefectFilters {
		if filters.Exists(name) {
			_ = filters.Replace(name, f)
		} else {
			_ = filters.Register(name, f)
		}
	}
	tests := exec.NewTestSet(map[string]exec.TestFunction{})
	tests.Update(builtins.Tests)
	for name, f := range jinjaTests {
		_ = tests.Replace(name, f)
	}
	return &exec.Environment{
		Context:           globals,
		Filters:           filters,
		Tests:             tests,
		ControlStructures: controlStructures,
		Methods:           builtins.Methods,
	}
}()
