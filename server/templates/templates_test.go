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
		_, err := Render(bad, map[string]any{}, Links{})
		require.Error(t, err, bad)
	}
	out, err := Render(`{{ n }} {{ m | tojson }} {% for x in xs %}{{ x }},{% endfor %}`, map[string]any{"n": 7, "m": map[string]any{"a": 1}, "xs": []any{"p", "q"}}, Links{})
	require.NoError(t, err)
	require.Equal(t, `7 {"a":1} p,q,`, out)
}

func TestUILinks(t *testing.T) {
	t.Parallel()
	run := map[string]any{"id": "11111111-2222-3333-4444-555555555555", "name": "r"}
	res := map[string]any{"prefect.resource.id": "prefect.deployment.abc"}
	c := map[string]any{"flow_run": run, "resource": res, "text": "see /runs/flow-run/11111111-2222-3333-4444-555555555555 now"}
	src := `{{ flow_run | ui_url }} {{ resource | ui_url }} {{ flow_run | ui_resource_events_url }} {{ text | flow_run_id }}`
	l := Links{UI: "https://prefect.example/", Kinds: map[string]string{run["id"].(string): "flow-run"}}
	out, err := Render(src, c, l)
	require.NoError(t, err)
	require.Equal(t, "https://prefect.example/runs/flow-run/11111111-2222-3333-4444-555555555555 "+
		"https://prefect.example/deployments/deployment/abc "+
		"https://prefect.example/events?resource=prefect.flow-run.11111111-2222-3333-4444-555555555555 "+
		"11111111-2222-3333-4444-555555555555", out)
	require.NoError(t, Validate(src), "the filters exist when a template is checked")
}
