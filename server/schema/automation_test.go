package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

const dep = "11111111-1111-1111-1111-111111111111"

// automationCases are automation bodies as clients send them. By default
// the case's answer must be Prefect's: the same automation, or one of the
// errors pydantic lists. tag marks an unknown type, which this server words
// as a discriminated union does; loose marks an error worded differently.
var automationCases = []struct {
	name, body string
	tag, loose bool
}{
	{name: "minimal", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[]}`},
	{name: "event trigger in full", body: `{"name":"a","description":"d","enabled":false,"tags":["x","y"],
		"trigger":{"type":"event","id":"` + dep + `","match":{"prefect.resource.id":"prefect.flow-run.*","b":["c","d"]},
		"match_related":[{"prefect.resource.role":"flow"},{"prefect.resource.id":["x","y"]}],"after":["a.b"],
		"expect":["x.y","x.y","z"],"for_each":["prefect.resource.id"],"posture":"Reactive","threshold":3,"within":"PT1M","ignored":1},
		"actions":[],"actions_on_trigger":[{"type":"do-nothing"}],"actions_on_resolve":[{"type":"cancel-flow-run"}]}`},
	{name: "proactive default window", body: `{"name":"a","trigger":{"posture":"Proactive","within":0},"actions":[]}`},
	{name: "proactive window", body: `{"name":"a","trigger":{"posture":"Proactive","within":30.5},"actions":[]}`},
	{name: "negative threshold", body: `{"name":"a","trigger":{"posture":"Reactive","threshold":-2},"actions":[]}`},
	{name: "match_related object", body: `{"name":"a","trigger":{"posture":"Reactive","match_related":{"prefect.resource.role":"flow"}},"actions":[]}`},
	{name: "compound", body: `{"name":"a","trigger":{"type":"compound","require":"any","within":60,
		"triggers":[{"posture":"Reactive","expect":["a"]},{"type":"sequence","within":null,"triggers":[{"posture":"Proactive"}]}]},"actions":[]}`},
	{name: "compound require a number", body: `{"name":"a","trigger":{"type":"compound","require":2,"within":-5,
		"triggers":[{"posture":"Reactive"},{"posture":"Reactive"}]},"actions":[]}`},
	{name: "untyped compound", body: `{"name":"a","trigger":{"triggers":[],"within":5,"require":"all"},"actions":[]}`},
	{name: "untyped sequence", body: `{"name":"a","trigger":{"triggers":[],"within":5},"actions":[]}`},
	{name: "every action", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[
		{"type":"do-nothing"},
		{"type":"run-deployment","deployment_id":"` + dep + `","parameters":{"x":{"y":[1,2]}},"job_variables":{},"schedule_after":"PT5M"},
		{"type":"run-deployment","source":"inferred"},
		{"type":"pause-deployment","deployment_id":"` + dep + `"},
		{"type":"resume-deployment","source":"inferred"},
		{"type":"cancel-flow-run"},{"type":"delete-flow-run"},
		{"type":"change-flow-run-state","state":"FAILED","name":"Boom","force":true},
		{"type":"pause-work-queue","work_queue_id":"` + dep + `"},{"type":"resume-work-queue","source":"inferred"},
		{"type":"send-notification","block_document_id":"` + dep + `","body":"{{ event.id }}"},
		{"type":"call-webhook","block_document_id":"` + dep + `","payload":{"text":"hi","n":[1,{"a":null}]}},
		{"type":"call-webhook","block_document_id":"` + dep + `"},
		{"type":"pause-automation","automation_id":"` + dep + `"},{"type":"resume-automation","source":"inferred"},
		{"type":"suspend-flow-run"},{"type":"resume-flow-run"},
		{"type":"pause-work-pool","work_pool_id":"` + dep + `"},{"type":"resume-work-pool","source":"inferred"}]}`},
	{name: "untyped actions", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{},{"deployment_id":"` + dep + `"},
		{"work_queue_id":"` + dep + `"},{"state":"COMPLETED"},{"block_document_id":"` + dep + `","body":"b"}]}`},
	{name: "owner", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[],"owner_resource":"prefect.deployment.` + dep + `"}`},
	{name: "loop while disabled", body: `{"name":"a","enabled":false,"trigger":{"posture":"Reactive","expect":["prefect.flow-run.Running"]},
		"actions":[{"type":"run-deployment","source":"inferred"}]}`},
	{name: "selected deployment, filtered runs", body: `{"name":"a","trigger":{"posture":"Reactive","expect":["prefect.flow-run.*"],
		"match":{"prefect.resource.id":"prefect.flow-run.*"},"match_related":{"prefect.resource.id":"prefect.flow.x"}},
		"actions":[{"type":"run-deployment","deployment_id":"` + dep + `"}]}`},

	{name: "unknown trigger type", body: `{"name":"a","trigger":{"type":"nope"},"actions":[]}`, tag: true},
	{name: "unknown action type", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"bogus"}]}`, tag: true},
	{name: "trigger not an object", body: `{"name":"a","trigger":[],"actions":[]}`, loose: true},
	{name: "untyped trigger matching nothing", body: `{"name":"a","trigger":{},"actions":[]}`},
	{name: "posture", body: `{"name":"a","trigger":{"type":"event","posture":"Metric"},"actions":[]}`},
	{name: "null window", body: `{"name":"a","trigger":{"type":"event","posture":"Reactive","within":null},"actions":[]}`},
	{name: "negative window", body: `{"name":"a","trigger":{"type":"event","posture":"Reactive","within":-1},"actions":[]}`},
	{name: "short proactive window", body: `{"name":"a","trigger":{"type":"event","posture":"Proactive","within":5},"actions":[]}`},
	{name: "bad window", body: `{"name":"a","trigger":{"type":"event","posture":"Reactive","within":"soon"},"actions":[]}`, loose: true},
	{name: "expect not a list", body: `{"name":"a","trigger":{"type":"event","posture":"Reactive","expect":"abc"},"actions":[]}`},
	{name: "expect of numbers", body: `{"name":"a","trigger":{"type":"event","posture":"Reactive","expect":[1]},"actions":[]}`},
	{name: "match value", body: `{"name":"a","trigger":{"type":"event","posture":"Reactive","match":{"a":1}},"actions":[]}`, loose: true},
	{name: "fractional threshold", body: `{"name":"a","trigger":{"type":"event","posture":"Reactive","threshold":1.5},"actions":[]}`},
	{name: "require zero", body: `{"name":"a","trigger":{"type":"compound","require":0,"within":null,"triggers":[]},"actions":[]}`},
	{name: "require too many", body: `{"name":"a","trigger":{"type":"compound","require":2,"within":null,"triggers":[{"posture":"Reactive"}]},"actions":[]}`},
	{name: "require a word", body: `{"name":"a","trigger":{"type":"compound","require":"some","within":null,"triggers":[]},"actions":[]}`},
	{name: "composite without triggers", body: `{"name":"a","trigger":{"type":"sequence","within":null},"actions":[]}`},
	{name: "bad child trigger", body: `{"name":"a","trigger":{"type":"sequence","within":1,"triggers":[{"posture":"Reactive"},{"type":"event"}]},"actions":[]}`},
	{name: "selected without id", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"run-deployment"}]}`},
	{name: "inferred with id", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"pause-work-pool","source":"inferred","work_pool_id":"` + dep + `"}]}`},
	{name: "bad source", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"pause-automation","source":"other"}]}`},
	{name: "negative delay", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"run-deployment","deployment_id":"` + dep + `","schedule_after":-1}]}`},
	{name: "parameters a list", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"run-deployment","deployment_id":"` + dep + `","parameters":[]}]}`},
	{name: "bad state", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"change-flow-run-state","state":"Nope"}]}`},
	{name: "no state", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"change-flow-run-state"}]}`},
	{name: "no body", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"send-notification","block_document_id":"` + dep + `"}]}`},
	{name: "bad block id", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"call-webhook","block_document_id":"x"}]}`, loose: true},
	{name: "null payload", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[{"type":"call-webhook","block_document_id":"` + dep + `","payload":null}]}`},
	{name: "no name", body: `{"trigger":{"posture":"Reactive"},"actions":[]}`},
	{name: "null name", body: `{"name":null,"trigger":{"posture":"Reactive"},"actions":[]}`},
	{name: "null enabled", body: `{"name":"a","enabled":null,"trigger":{"posture":"Reactive"},"actions":[]}`},
	{name: "null tags", body: `{"name":"a","tags":null,"trigger":{"posture":"Reactive"},"actions":[]}`},
	{name: "no trigger", body: `{"name":"a","actions":[]}`},
	{name: "no actions", body: `{"name":"a","trigger":{"posture":"Reactive"}}`},
	{name: "null actions", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":null}`},
	{name: "null actions on trigger", body: `{"name":"a","trigger":{"posture":"Reactive"},"actions":[],"actions_on_trigger":null}`},
	{name: "inferred deployment loop", body: `{"name":"a","trigger":{"posture":"Reactive","expect":["prefect.flow-run.Running"]},
		"actions":[{"type":"run-deployment","source":"inferred"}]}`},
	{name: "selected deployment loop", body: `{"name":"a","trigger":{"posture":"Reactive","expect":["prefect.flow-run.Pending"],
		"match":{"prefect.resource.id":["prefect.flow-run.*"]}},"actions":[{"type":"run-deployment","deployment_id":"` + dep + `"}]}`},
}

// decodeAutomation reads a body as the API does.
func decodeAutomation(t *testing.T, body string) (schema.AutomationCreate, error) {
	t.Helper()
	var in schema.AutomationCreate
	require.NoError(t, json.Unmarshal([]byte(body), &in))
	require.Nil(t, schema.UnknownKey(&in, []byte(body)))
	return in, in.Validate()
}

// TestAutomationsMatchPrefect reads each case as Prefect's AutomationCreate
// does (the pinned prefect in the venv, PREFECTGO_TEST_PYTHON).
func TestAutomationsMatchPrefect(t *testing.T) {
	python := os.Getenv("PREFECTGO_TEST_PYTHON")
	if python == "" {
		t.Skip("PREFECTGO_TEST_PYTHON is not set; `make test-go` sets it to the pinned prefect's venv")
	}
	var bodies []json.RawMessage
	for _, c := range automationCases {
		bodies = append(bodies, json.RawMessage(c.body))
	}
	in, err := json.Marshal(bodies)
	require.NoError(t, err)
	cmd := exec.Command(python, "testdata/prefect_automations.py")
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir())
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var answers []struct {
		OK     map[string]any `json:"ok"`
		Errors [][2]string    `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(out, &answers))
	require.Len(t, answers, len(automationCases))

	for i, c := range automationCases {
		t.Run(c.name, func(t *testing.T) {
			want := answers[i]
			a, err := decodeAutomation(t, c.body)
			if want.OK != nil {
				require.NoError(t, err)
				delete(want.OK, "owner_resource")
				got := asJSON(t, a.New(uuid.New(), time.Now()))
				for _, k := range []string{"id", "created", "updated"} {
					delete(got, k)
				}
				require.Equal(t, dropTriggerIDs(want.OK), dropTriggerIDs(got))
				return
			}
			require.NotEmpty(t, want.Errors, "Prefect accepts neither")
			var verr *schema.ValidationError
			require.ErrorAs(t, err, &verr, "Prefect refuses it: %v", want.Errors)
			if c.tag {
				require.Contains(t, verr.Msg, "does not match any of the expected tags")
				return
			}
			if c.loose {
				return
			}
			require.Contains(t, want.Errors, [2]string{verr.Loc, verr.Msg}, "ours is not among Prefect's")
		})
	}
}

func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// dropTriggerIDs removes the trigger ids (new on every create) from an
// automation's JSON, and sorts the sets of event triggers (a Python set's
// order changes with every process).
func dropTriggerIDs(a map[string]any) map[string]any {
	var drop func(t map[string]any)
	drop = func(t map[string]any) {
		delete(t, "id")
		for _, key := range []string{"after", "expect", "for_each"} {
			if set, ok := t[key].([]any); ok {
				slices.SortFunc(set, func(x, y any) int { return strings.Compare(x.(string), y.(string)) })
			}
		}
		if children, ok := t["triggers"].([]any); ok {
			for _, c := range children {
				drop(c.(map[string]any))
			}
		}
	}
	drop(a["trigger"].(map[string]any))
	return a
}

// Every trigger gets a new id on create, however many the client sent.
func TestAutomationTriggerIDsReset(t *testing.T) {
	t.Parallel()
	a, err := decodeAutomation(t, `{"name":"a","trigger":{"type":"sequence","id":"`+dep+`","within":null,
		"triggers":[{"id":"`+dep+`","posture":"Reactive"}]},"actions":[]}`)
	require.NoError(t, err)
	ids := map[uuid.UUID]bool{}
	for _, tr := range a.Trigger.All() {
		ids[tr.ID] = true
	}
	require.Len(t, ids, 2)
	require.False(t, ids[uuid.MustParse(dep)])
}

// What a deployment's automation is related to: the deployments its actions
// run by id, each once; not those it pauses, infers or runs on trigger.
func TestDeploymentsRun(t *testing.T) {
	t.Parallel()
	other := "22222222-2222-2222-2222-222222222222"
	a, err := decodeAutomation(t, `{"name":"a","trigger":{"posture":"Reactive"},"actions":[
		{"type":"run-deployment","deployment_id":"`+dep+`"},{"type":"run-deployment","deployment_id":"`+dep+`"},
		{"type":"pause-deployment","deployment_id":"`+other+`"},{"type":"run-deployment","source":"inferred"}],
		"actions_on_trigger":[{"type":"run-deployment","deployment_id":"`+other+`"}]}`)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{uuid.MustParse(dep)}, schema.DeploymentsRun(a.ActionList()))
}

// A stored automation reads back as it was written: the JSON of its
// trigger and actions decodes to the same values.
func TestAutomationRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range automationCases {
		in, err := decodeAutomation(t, c.body)
		if err != nil {
			continue
		}
		first := in.New(uuid.New(), time.Now().UTC())
		b, err := json.Marshal(first)
		require.NoError(t, err)
		var again schema.Automation
		require.NoError(t, json.Unmarshal(b, &again), c.name)
		require.NoError(t, again.Trigger.Check("trigger"), c.name)
		for i, a := range again.Actions {
			require.NoError(t, a.Check("actions."+strconv.Itoa(i)), c.name)
		}
		b2, err := json.Marshal(again)
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(b2), c.name)
	}
}
