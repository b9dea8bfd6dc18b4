// Package templates renders the Jinja templates users write into
// automations (notification subjects and bodies, webhook payloads,
// run-deployment parameters), with gonja, in a sandbox: Jinja's filters,
// tests and statements, but nothing that reaches outside the template
// (extends, include, import, from) and no global functions (range,
// lipsum ...): a template sees only the context it is given.
package templates

import (
	"regexp"
	"strconv"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"
)

var environment = func() *exec.Environment {
	statements := map[string]parser.ControlStructureParser{}
	for _, name := range []string{"autoescape", "block", "filter", "for", "if", "macro", "raw", "set", "with", "break", "continue", "call"} {
		if p, ok := controlStructures.All.Get(name); ok {
			statements[name] = p
		}
	}
	return &exec.Environment{
		Context:           exec.NewContext(map[string]any{}),
		Filters:           builtins.Filters,
		Tests:             builtins.Tests,
		ControlStructures: exec.NewControlStructureSet(statements),
		Methods:           builtins.Methods,
	}
}()

// compile parses a template with nothing to load but itself.
func compile(source string) (*exec.Template, error) {
	loader, err := loaders.NewMemoryLoader(map[string]string{"/template": source})
	if err != nil {
		return nil, err
	}
	return exec.NewTemplate("/template", gonja.DefaultConfig, loader, environment)
}

// Validate says whether source is a template this server can render.
func Validate(source string) error {
	_, err := compile(source)
	return err
}

// Render renders source with the context c.
func Render(source string, c map[string]any) (string, error) {
	tpl, err := compile(source)
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
