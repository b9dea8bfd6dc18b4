package templates

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTemplatesStayInTheirSandbox(t *testing.T) {
	t.Parallel()
	require.NoError(t, Validate("{{ flow_run.name }} {% if event %}{{ event.payload | tojson }}{% endif %}"))
	for _, bad := range []string{`{% include "/etc/passwd" %}`, `{% extends "/etc/passwd" %}`, `{% import "/etc/hosts" as h %}`,
		`{% from "/etc/hosts" import x %}`, `{{ unclosed`, `{{ range(10) }}`} {
		_, err := Render(bad, map[string]any{})
		require.Error(t, err, bad)
	}
	out, err := Render(`{{ n }} {{ m | tojson }} {% for x in xs %}{{ x }},{% endfor %}`, map[string]any{"n": 7, "m": map[string]any{"a": 1}, "xs": []any{"p", "q"}})
	require.NoError(t, err)
	require.Equal(t, `7 {"a":1} p,q,`, out)
}
