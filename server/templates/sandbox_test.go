package templates

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTemplatesStayInTheirSandbox(t *testing.T) {
	t.Parallel()
	require.Nil(t, Validate("{{ flow_run.name }} {% if event %}{{ event.payload | tojson }}{% endif %}"))
	r := Renderer{}
	for _, bad := range []string{`{% include "/etc/passwd" %}`, `{% extends "/etc/passwd" %}`, `{% import "/etc/hosts" as h %}`,
		`{% from "/etc/hosts" import x %}`, `{{ unclosed`, `{% for i in range(1000) %}{% endfor %}`, `{% do x %}`} {
		_, err := r.Render(bad, map[string]any{})
		require.Error(t, err, bad)
	}
	out, err := r.Render(`{{ n }} {{ m | tojson }} {% for x in xs %}{{ x }},{% endfor %}{% for i in range(3) %}{{ i }}{% endfor %}`,
		map[string]any{"n": 7, "m": FromJSON([]byte(`{"a": 1}`)), "xs": []any{"p", "q"}})
	require.NoError(t, err)
	require.Equal(t, `7 {"a": 1} p,q,012`, out)
}

func TestLoopLimits(t *testing.T) {
	t.Parallel()
	require.Nil(t, Validate("{% for a in b %}{% for c in d %}{% endfor %}{% endfor %}"))
	require.Equal(t, &SyntaxError{Message: "Contains nested for loops at a depth of 3. Templates can nest for loops no more than 2 loops deep."},
		Validate("{% for a in b %}{% for c in d %}{% for e in f %}{% endfor %}{% endfor %}{% endfor %}"))
}

func TestHydrate(t *testing.T) {
	t.Parallel()
	params := map[string]any{
		"kept":  "x",
		"none":  map[string]any{"__prefect_kind": "none", "value": 3},
		"json":  map[string]any{"__prefect_kind": "json", "value": `{"a": [1, 2]}`},
		"gone":  map[string]any{"__prefect_kind": "json"},
		"jinja": map[string]any{"__prefect_kind": "jinja", "template": "{{ who }}!"},
		"var":   map[string]any{"__prefect_kind": "workspace_variable", "variable_name": "v"},
		"list":  []any{map[string]any{"__prefect_kind": "workspace_variable"}, "y"},
	}
	// Without rendering, templates and variables are left as placeholders.
	first, err := Hydrate(params, HydrationContext{})
	require.NoError(t, err)
	require.ElementsMatch(t, []any{ValidJinja{"{{ who }}!"}, WorkspaceVariable{"v"}}, Placeholders(first))

	vars := func(name string) (any, bool, error) { return 42, name == "v", nil }
	out, err := Hydrate(params, HydrationContext{RaiseOnError: true, RenderJinja: true, JinjaContext: map[string]any{"who": "ann"},
		RenderVariables: true, Variable: vars})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"kept": "x", "none": 3, "json": map[string]any{"a": []any{json.Number("1"), json.Number("2")}}, "jinja": "ann!",
		"var": 42, "list": []any{"y"}}, out)

	_, err = Hydrate(map[string]any{"v": map[string]any{"__prefect_kind": "workspace_variable", "variable_name": "w"}},
		HydrationContext{RaiseOnError: true, RenderVariables: true, Variable: vars})
	require.Equal(t, &HydrationError{"WorkspaceVariableNotFound", "Variable 'w' not found in workspace."}, err)
}
