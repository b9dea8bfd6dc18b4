package templates_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/templates"
)

// uiURL is the UI both renderers link to.
const uiURL = "http://prefect.example:4200"

// contextObjects are the objects a template sees, as this server's API
// writes them: name -> [kind, JSON].
func contextObjects(t *testing.T) map[string][2]any {
	t.Helper()
	at := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	whole := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	flowID, runID, depID, poolID, queueID := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	state := schema.State{ID: uuid.New(), Type: schema.StateCompleted, Name: "Completed", Timestamp: whole}
	stateType, stateName := schema.StateCompleted, "Completed"
	queueName, poolName, version := "default", "pool-1", "1.0"
	run := schema.FlowRun{ID: runID, Created: at, Updated: at, Name: "shiny-fox", FlowID: flowID,
		DeploymentID: &depID, Parameters: json.RawMessage(`{"f": 2.5, "nested": {"a": [1, true]}, "x": 1, "y": "s", "z": null}`),
		Context: json.RawMessage(`{}`), Tags: []string{"a", "b"}, Labels: json.RawMessage(`{"team": "data"}`),
		StateType: &stateType, StateName: &stateName, RunCount: 1, ExpectedStartTime: &at, StartTime: &at, EndTime: &at,
		TotalRunTime: 90061.5, EstimatedRunTime: 2, State: &state, WorkQueueName: &queueName, WorkPoolName: &poolName,
		JobVariables: json.RawMessage(`{}`), EmpiricalPolicy: schema.FlowRunPolicy{}}
	status := "READY"
	dep := schema.Deployment{ID: depID, Created: at, Updated: at, Name: "nightly", Version: &version, FlowID: flowID,
		Schedules: []schema.DeploymentSchedule{}, JobVariables: json.RawMessage(`{}`), Parameters: json.RawMessage(`{"x": 1}`),
		Tags: []string{"prod"}, Labels: json.RawMessage(`{}`), WorkQueueName: &queueName, ParameterOpenAPISchema: json.RawMessage(`{}`),
		PullSteps: json.RawMessage(`null`), VersionInfo: json.RawMessage(`null`), GlobalConcurrencyLimit: json.RawMessage(`null`),
		WorkPoolName: &poolName, Status: "READY"}
	flow := schema.Flow{ID: flowID, Created: at, Updated: at, Name: "etl", Tags: []string{}, Labels: json.RawMessage(`{}`)}
	pool := schema.WorkPool{ID: poolID, Created: at, Updated: at, Name: "pool 1", Type: "process", BaseJobTemplate: json.RawMessage(`{}`),
		Status: &status, DefaultQueueID: &queueID}
	queue := schema.WorkQueue{ID: queueID, Created: at, Updated: at, Name: queueName, Priority: 1, WorkPoolID: &poolID,
		Filter: json.RawMessage(`null`), Status: &status, WorkPoolName: &poolName}
	event := schema.Event{ID: uuid.New(), Occurred: at, Received: at, Event: "prefect.flow-run.Completed",
		Resource: schema.Resource{"prefect.resource.id": "prefect.flow-run." + runID.String(), "prefect.resource.name": "shiny-fox",
			"prefect.state-name": "Completed"},
		Related: []schema.Resource{
			{"prefect.resource.id": "prefect.flow." + flowID.String(), "prefect.resource.role": "flow", "prefect.resource.name": "etl"},
			{"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"},
		},
		Payload: json.RawMessage(`{"intended": {"from": "RUNNING", "to": "COMPLETED"}, "validated_state": {"type": "COMPLETED", "name": "Completed"}}`)}
	var automation schema.Automation
	require.NoError(t, json.Unmarshal([]byte(`{"name": "when done", "description": "d", "enabled": true, "tags": [],
		"trigger": {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Completed"], "match": {}, "match_related": [],
			"for_each": [], "after": [], "threshold": 1, "within": 0},
		"actions": [{"type": "do-nothing"}], "actions_on_trigger": [], "actions_on_resolve": []}`), &automation))
	automation.ID, automation.Created, automation.Updated = uuid.New(), at, at

	objects := map[string][2]any{
		"flow_run": {"flow_run", run}, "deployment": {"deployment", dep}, "flow": {"flow", flow},
		"work_pool": {"work_pool", pool}, "work_queue": {"work_queue", queue}, "event": {"event", event},
		"automation": {"automation", automation}, "nothing": {"none", nil},
		"labels": {"labels", map[string]string{"prefect.resource.id": "prefect.flow-run." + runID.String(), "team": "data"}},
	}
	for name, o := range objects {
		b, err := json.Marshal(o[1])
		require.NoError(t, err)
		objects[name] = [2]any{o[0], json.RawMessage(b)}
	}
	// A work queue comes with its status, as Prefect reads both.
	var q map[string]any
	require.NoError(t, json.Unmarshal(objects["work_queue"][1].(json.RawMessage), &q))
	q["healthy"], q["late_runs_count"] = false, 0
	q["health_check_policy"] = map[string]any{"maximum_late_runs": 0, "maximum_seconds_since_last_polled": 60}
	b, err := json.Marshal(q)
	require.NoError(t, err)
	objects["work_queue"] = [2]any{"work_queue", json.RawMessage(b)}
	return objects
}

// renderCases are the templates rendered by both. A dict's keys are sorted
// here (Prefect keeps the order it read them in, which PostgreSQL's jsonb
// does not keep either), so the objects' keys are given sorted.
var renderCases = []string{
	"Flow run {{ flow.name }}/{{ flow_run.name }} observed in state `{{ flow_run.state.name }}` at {{ flow_run.state.timestamp }}.\n" +
		"Flow ID: {{ flow_run.flow_id }}\nFlow run ID: {{ flow_run.id }}\nFlow run URL: {{ flow_run|ui_url }}\n" +
		"State message: {{ flow_run.state.message }}",
	"plain text, no template",
	"{{ flow_run.state.type }} {{ flow_run.state.type.value }} {{ flow_run.state }}",
	"{{ flow_run.expected_start_time }} {{ flow_run.created }} {{ flow_run.end_time.isoformat() }}",
	"{{ flow_run.expected_start_time.strftime('%Y-%m-%d %H:%M:%S.%f') }} {{ flow_run.expected_start_time.year }}",
	"{{ flow_run.parameters }}",
	"{{ flow_run.parameters | tojson }}",
	"{{ flow_run.parameters | tojson(indent=2) }}",
	"{{ flow_run.parameters.x + 1 }} {{ flow_run.parameters.f }} {{ flow_run.parameters.z }} {{ flow_run.parameters.nested.a }}",
	"{{ flow_run.tags }} {{ flow_run.tags | join(', ') }} {{ flow_run.tags | length }} {{ 'a' in flow_run.tags }}",
	"{{ flow_run.total_run_time }} {{ flow_run.estimated_run_time }}",
	"{{ flow_run.run_count }} {{ flow_run.deployment_id }} {{ flow_run.work_queue_name }} {{ flow_run.parent_task_run_id }}",
	"{% for k, v in flow_run.parameters.items() %}{{ k }}={{ v }};{% endfor %}",
	"{% if flow_run.state.type.value == 'COMPLETED' %}done{% else %}not yet{% endif %}",
	"{% if flow_run.state.message %}{{ flow_run.state.message }}{% else %}no message{% endif %}",
	"{{ flow_run.state.message or 'none given' }} {{ flow_run.state.message is none }}",
	"{{ flow_run.name | upper }} {{ flow_run.name | title }} {{ flow_run.name ~ '!' }}",
	"{{ deployment.name }} {{ deployment.version }} {{ deployment.tags }} {{ deployment.parameters }} {{ deployment.status }}",
	"{{ deployment | ui_url }} {{ deployment | ui_resource_events_url }}",
	"{{ flow.name }} {{ flow | ui_url }} {{ flow | ui_resource_events_url }}",
	"{{ work_pool.name }} {{ work_pool.type }} {{ work_pool.status }} {{ work_pool.is_paused }} {{ work_pool | ui_url }}",
	"{{ work_queue.name }} {{ work_queue.priority }} {{ work_queue.is_paused }} {{ work_queue | ui_url }} {{ work_queue | ui_resource_events_url }}",
	"{{ event.event }} {{ event.id }} {{ event.occurred }}",
	"{{ event.resource.id }} {{ event.resource.name }} {{ event.resource['prefect.state-name'] }} {{ event.resource.get('nope') }}",
	"{{ event.payload.validated_state.type }} {{ event.payload.intended | tojson }} {{ event.payload.missing.deeper }}",
	"{% for r in event.related %}{{ r.role }}:{{ r.id }} {% endfor %}",
	"{{ event.resource_in_role['flow'].name }}",
	"{{ event | ui_url }} {{ event.resource | ui_resource_events_url }}",
	"{{ automation.name }} {{ automation.description }} {{ automation.enabled }} {{ automation | ui_url }}",
	"{{ automation | ui_resource_events_url }} {{ automation.trigger.posture }} {{ automation.trigger.threshold }}",
	"{{ labels.prefect.resource.id }} {{ labels.team }}",
	"[{{ missing }}] [{{ missing.deeper.still }}] [{{ nothing.name }}] [{{ nothing }}]",
	"{{ missing | default('fallback') }} {{ flow_run.state.message | default('fallback') }} {{ '' | default('x', true) }}",
	"{{ missing is defined }} {{ flow_run is defined }} {{ nothing is none }}",
	"{% for i in range(3) %}{{ i }}{% endfor %}",
	"{% for i in range(101) %}{{ i }}{% endfor %}",
	"{{ missing | tojson }}",
	"{{ \"<b>&'\" | tojson }} {{ {'b': 1, 'a': [1, 2.5, none, true, 'é']} | tojson }}",
	"{{ 10 / 4 }} {{ 7 // 2 }} {{ 3 * 4 }} {{ 7 - 10 }} {{ 1.5 }} {{ 1e20 }}",
	"{{ flow_run.state.type | tojson }} {{ flow_run.state | tojson }} {{ flow_run.id.hex }}",
	"{{ flow_run.id | tojson }}",
	"{{ event.occurred | tojson }}",
	"{{ flow_run.total_run_time | tojson }}",
	"{{ event.resource | tojson }} {{ event.related | tojson }}",
	"{{ 'see /runs/flow-run/00000000-0000-0000-0000-000000000001 x' | flow_run_id }} {{ '' | flow_run_id }} {{ 'no' | flow_run_id }}",
}

// validateCases are the templates validated by both; loose ones differ in
// wording only.
var validateCases = []struct {
	src   string
	loose bool
}{
	{src: "{{ flow_run.name }}"},
	{src: "no template"},
	{src: "{{ foo"},
	{src: "{{ foo }"},
	{src: "{% if %}"},
	{src: "{% if x %}"},
	{src: "{% for x in y %}"},
	{src: "{% foo %}"},
	{src: "line one\n{% endif %}"},
	{src: "{{ }}"},
	{src: "{{ a b }}"},
	{src: "{# unclosed"},
	{src: "{% raw %}abc"},
	{src: "{{ a ]] }}"},
	{src: "{{ a +* b }}"},
	{src: "{{ a | }}", loose: true},
	{src: "{{ a( }}", loose: true},
	{src: strings.Repeat("{% for x in y %}{% endfor %}", 11)},
	{src: "{% for a in b %}{% for c in d %}{% for e in f %}{% endfor %}{% endfor %}{% endfor %}"},
	{src: "{% for a in b %}{% for c in d %}{% endfor %}{% endfor %}"},
}

func TestTemplatesMatchPrefect(t *testing.T) {
	python := os.Getenv("PREFECTGO_TEST_PYTHON")
	if python == "" {
		t.Skip("PREFECTGO_TEST_PYTHON is not set; `make test-go` sets it to the pinned prefect's venv")
	}
	objects := contextObjects(t)
	var toValidate []string
	for _, c := range validateCases {
		toValidate = append(toValidate, c.src)
	}
	in, err := json.Marshal(map[string]any{"context": objects, "render": renderCases, "validate": toValidate})
	require.NoError(t, err)
	cmd := exec.Command(python, "testdata/prefect_templates.py")
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_UI_URL="+uiURL)
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var answers struct {
		Render []struct {
			OK    *string `json:"ok"`
			Error string  `json:"error"`
		} `json:"render"`
		Validate []*templates.SyntaxError `json:"validate"`
	}
	require.NoError(t, json.Unmarshal(out, &answers))

	ctx := map[string]any{}
	for name, o := range objects {
		raw := o[1].(json.RawMessage)
		switch o[0] {
		case "labels":
			var labels map[string]string
			require.NoError(t, json.Unmarshal(raw, &labels))
			ctx[name] = templates.Labels(labels)
		case "none":
			ctx[name] = templates.None
		default:
			ctx[name] = templates.Object(o[0].(string), raw)
		}
	}
	r := templates.Renderer{UIURL: uiURL}
	for i, src := range renderCases {
		want := answers.Render[i]
		got, err := r.Render(src, ctx)
		if want.OK != nil {
			require.NoError(t, err, "template %q", src)
			require.Equal(t, *want.OK, got, "template %q", src)
			continue
		}
		var rerr *templates.RenderError
		require.ErrorAs(t, err, &rerr, "template %q: Prefect fails with %s", src, want.Error)
		require.Equal(t, want.Error, rerr.Cause(), "template %q", src)
	}
	for i, c := range validateCases {
		want := answers.Validate[i]
		got := templates.Validate(c.src)
		if want == nil {
			require.Nil(t, got, "template %q", c.src)
			continue
		}
		require.NotNil(t, got, "template %q: Prefect refuses it: %s", c.src, want.Message)
		if !c.loose {
			require.Equal(t, *want, *got, "template %q", c.src)
		}
	}
}
