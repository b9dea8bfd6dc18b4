package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// parameterCases are run-deployment parameters, each rendered by the actor
// into a run of a deployment without parameters of its own, and by
// Prefect's render_parameters.
var parameterCases = []string{
	`{"n": "{{ event.payload.n }}", "f": "{{ event.payload.f }}", "b": "{{ event.payload.b }}", "z": "{{ event.payload.z }}"}`,
	`{"s": "hi {{ event.payload.who }} from {{ event.resource.name }}", "plain": "no markup", "num": 3}`,
	`{"nested": {"id": "{{ event.resource.id }}", "list": ["{{ event.payload.n }}", "x {{ event.event }}", {"deep": "{{ event.payload.who }}"}, 4]}}`,
	`{"kind": {"__prefect_kind": "jinja", "template": "{{ event.event }} by {{ automation.name }}"}}`,
	`{"j": {"__prefect_kind": "json", "value": "{\"a\": [1, 2.5, null]}"}, "gone": {"__prefect_kind": "json"}}`,
	`{"v": {"__prefect_kind": "workspace_variable", "variable_name": "my_var"}, "w": {"__prefect_kind": "workspace_variable"}}`,
	`{"untouched": {"__prefect_kind": "none", "value": {"x": "{{ event.payload.n }}"}}}`,
	`{"labels": "{{ labels.team }} team", "payload": "{{ event.payload }}", "whole": "{{ event.payload | tojson }}"}`,
	`{"missing": "{{ event.payload.missing }}"}`,
	`{"labelled": "{{ labels.team }}"}`,
	`{"v": {"__prefect_kind": "workspace_variable", "variable_name": "nope"}}`,
	`{"id": "{{ event.id }}"}`,
	`{"bad": "{{ event.payload | nosuchfilter }}"}`,
}

func TestRunDeploymentParametersMatchPrefect(t *testing.T) {
	t.Parallel()
	python := os.Getenv("PREFECTGO_TEST_PYTHON")
	if python == "" {
		t.Skip("PREFECTGO_TEST_PYTHON is not set; `make test-go` sets it to the pinned prefect's venv")
	}
	ev := eventAbout("thing.happened", schema.Resource{"prefect.resource.id": "thing.1", "prefect.resource.name": "first thing"})
	ev.Payload = json.RawMessage(`{"b": true, "f": 2.5, "n": 7, "who": "ann", "z": null}`)
	ev.Received, ev.Related = ev.Occurred, []schema.Resource{}
	labels := map[string]string{"team": "data"}
	variables := map[string]any{"my_var": map[string]any{"k": []any{1, "two"}}}

	var cases []json.RawMessage
	for _, c := range parameterCases {
		cases = append(cases, json.RawMessage(c))
	}
	in, err := json.Marshal(map[string]any{"event": ev, "labels": labels, "variables": variables, "cases": cases,
		"automation": map[string]any{"name": "test", "trigger": map[string]any{"type": "event", "posture": "Reactive"}}})
	require.NoError(t, err)
	cmd := exec.Command(python, "testdata/prefect_parameters.py")
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir())
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var answers []struct {
		OK    map[string]any `json:"ok"`
		Error string         `json:"error"`
	}
	require.NoError(t, json.Unmarshal(out, &answers))
	require.Len(t, answers, len(parameterCases))

	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		flow := f.do(http.MethodPost, "/flows/", map[string]any{"name": "parameterized"})
		dep := f.do(http.MethodPost, "/deployments/", map[string]any{"flow_id": flow["id"], "name": "d"})
		for name, value := range variables {
			f.do(http.MethodPost, "/variables/", map[string]any{"name": name, "value": value})
		}
		for i, c := range parameterCases {
			act := action(t, `{"type":"run-deployment","source":"selected","deployment_id":"`+dep["id"].(string)+`","parameters":`+c+`}`)
			ta := triggered(act, ev)
			ta.TriggeringLabels = labels
			ta.Triggered = time.Now().UTC()
			f.actor.Act(ctx, ta)
			name, payload, e := f.sink.last(t)
			want := answers[i]
			if want.OK == nil {
				require.Equal(t, "prefect.automation.action.failed", name, "case %s", c)
				require.Equal(t, want.Error, payload["reason"], "case %s", c)
				continue
			}
			require.Equal(t, "prefect.automation.action.executed", name, "case %s: %v", c, payload)
			var runID string
			for _, r := range e.Related {
				if r.Role() == "flow-run" {
					runID = strings.TrimPrefix(r.ID(), "prefect.flow-run.")
				}
			}
			require.NoError(t, uuid.Validate(runID))
			run := f.do(http.MethodGet, "/flow_runs/"+runID, nil)
			require.Equal(t, want.OK, run["parameters"], "case %s", c)
		}
	})
}
