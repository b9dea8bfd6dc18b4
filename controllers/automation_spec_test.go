package controllers

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// A write of an automation starts its trigger's windows afresh: what the
// server answers for an unchanged spec, with its defaults filled in, must
// compare equal, and any field changed must not.

func automationOf(trigger string, actions ...string) *v1alpha1.PrefectAutomation {
	a := &v1alpha1.PrefectAutomation{ObjectMeta: metav1.ObjectMeta{Name: "stuck"}}
	a.Spec.Trigger = apiextensionsv1.JSON{Raw: []byte(trigger)}
	for _, s := range actions {
		a.Spec.Actions = append(a.Spec.Actions, apiextensionsv1.JSON{Raw: []byte(s)})
	}
	return a
}

func raws(s ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(s))
	for i, v := range s {
		out[i] = json.RawMessage(v)
	}
	return out
}

func TestAutomationDriftReadsServerDefaults(t *testing.T) {
	a := automationOf(`{"posture":"Proactive","after":["prefect.flow-run.Running"],"expect":["prefect.flow-run.*"],
		"for_each":["prefect.resource.id"],"match":{"prefect.resource.id":"prefect.flow-run.*"}}`,
		`{"type":"cancel-flow-run"}`,
		`{"type":"run-deployment","deploymentName":"etl/nightly","parameters":{"n":1},"schedule_after":"PT1M"}`,
		`{"type":"send-notification","block_document_id":"b","body":"hi"}`,
		`{"type":"call-webhook","block_document_id":"b","payload":{"a":1}}`,
		`{"type":"change-flow-run-state","state":"FAILED"}`,
		`{"type":"pause-work-queue","source":"inferred"}`)
	names, err := DeploymentNames(a)
	require.NoError(t, err)
	require.Equal(t, []string{"etl/nightly"}, names)
	want, err := automationWrite(a, map[string]string{"etl/nightly": "d-1"})
	require.NoError(t, err)
	require.Equal(t, "stuck", want.Name, "unset: the resource's name")
	require.True(t, want.Enabled)
	require.JSONEq(t, `{"type":"run-deployment","deployment_id":"d-1","parameters":{"n":1},"schedule_after":"PT1M"}`, string(want.Actions[1]))
	require.Contains(t, string(a.Spec.Actions[1].Raw), "deploymentName", "resolved in a copy")

	// As the server answers that spec: the trigger's type, id and the
	// proactive window of 10 s filled in, the actions with every field.
	have := prefectapi.Automation{Name: "stuck", Enabled: true, Tags: []string{},
		Trigger: json.RawMessage(`{"type":"event","id":"a3a4","match":{"prefect.resource.id":"prefect.flow-run.*"},
			"match_related":{},"after":["prefect.flow-run.Running"],"expect":["prefect.flow-run.*"],
			"for_each":["prefect.resource.id"],"posture":"Proactive","threshold":1,"within":10}`),
		Actions: raws(`{"type":"cancel-flow-run"}`,
			`{"type":"run-deployment","source":"selected","deployment_id":"d-1","parameters":{"n":1},"job_variables":null,"schedule_after":60}`,
			`{"type":"send-notification","block_document_id":"b","subject":"Prefect automated notification","body":"hi"}`,
			`{"type":"call-webhook","block_document_id":"b","payload":"{\n  \"a\": 1\n}"}`,
			`{"type":"change-flow-run-state","name":null,"state":"FAILED","message":null,"force":false}`,
			`{"type":"pause-work-queue","source":"inferred","work_queue_id":null}`),
		ActionsOnTrigger: raws(), ActionsOnResolve: nil}
	require.Empty(t, automationDrift(have, want))

	// Each change of the server's is found.
	for field, mutate := range map[string]func(h *prefectapi.Automation){
		"enabled":          func(h *prefectapi.Automation) { h.Enabled = false },
		"name":             func(h *prefectapi.Automation) { h.Name = "other" },
		"description":      func(h *prefectapi.Automation) { h.Description = "edited" },
		"tags":             func(h *prefectapi.Automation) { h.Tags = []string{"x"} },
		"actionsOnResolve": func(h *prefectapi.Automation) { h.ActionsOnResolve = raws(`{"type":"do-nothing"}`) },
		"trigger": func(h *prefectapi.Automation) {
			h.Trigger = json.RawMessage(`{"type":"event","posture":"Proactive","after":["prefect.flow-run.Running"],
			"expect":["prefect.flow-run.*"],"for_each":["prefect.resource.id"],"match":{"prefect.resource.id":"prefect.flow-run.*"},"within":600}`)
		},
		"actions": func(h *prefectapi.Automation) {
			h.Actions = append(append([]json.RawMessage{}, h.Actions[:4]...),
				json.RawMessage(`{"type":"change-flow-run-state","name":null,"state":"FAILED","message":null,"force":true}`), h.Actions[5])
		},
	} {
		h := have
		mutate(&h)
		require.Equal(t, []string{field}, automationDrift(h, want), field)
	}
}

func TestTriggerMatches(t *testing.T) {
	server := func(s string) any { return decodeJSON(json.RawMessage(s)) }
	// Sets in any order, repeats dropped; windows as seconds or durations;
	// one related specification or a list of one.
	require.True(t, triggerMatches(server(`{"posture":"Reactive","expect":["b","a","b"],"within":"PT1M",
		"match_related":{"prefect.resource.role":"flow"}}`),
		server(`{"type":"event","id":"x","match":{},"match_related":[{"prefect.resource.role":"flow"}],"after":[],
		"expect":["a","b"],"for_each":[],"posture":"Reactive","threshold":1,"within":60}`)))
	// A value left out of the spec that the server holds differently is drift.
	require.False(t, triggerMatches(server(`{"posture":"Reactive","expect":["a"]}`),
		server(`{"type":"event","id":"x","match":{},"match_related":{},"after":[],"expect":["a"],"for_each":[],
		"posture":"Reactive","threshold":3,"within":0}`)))
	// Composite triggers compare their children in order.
	compound := `{"type":"compound","require":"any","within":60,"triggers":[{"posture":"Reactive","expect":["a"]}]}`
	have := `{"type":"compound","id":"c","triggers":[{"type":"event","id":"e","match":{},"match_related":{},"after":[],
		"expect":["a"],"for_each":[],"posture":"Reactive","threshold":1,"within":0}],"within":60,"require":"any"}`
	require.True(t, triggerMatches(server(compound), server(have)))
	require.False(t, triggerMatches(server(`{"type":"sequence","within":60,"triggers":[{"posture":"Reactive","expect":["a"]}]}`), server(have)))
	require.False(t, triggerMatches(server(`{"type":"compound","require":2,"within":60,"triggers":[{"posture":"Reactive","expect":["a"]}]}`), server(have)))
}

func TestDeploymentNamesAreChecked(t *testing.T) {
	for action, want := range map[string]string{
		`{"type":"cancel-flow-run","deploymentName":"a/b"}`:                      "deploymentName applies to run-deployment",
		`{"type":"run-deployment","deploymentName":"a/b","deployment_id":"x"}`:   "not both",
		`{"type":"pause-deployment","deploymentName":"a/b","source":"inferred"}`: "source must be selected",
		`{"type":"resume-deployment","deploymentName":"ab"}`:                     `"ab" is not <flow>/<deployment>`,
		`{"type":"run-deployment","deploymentName":7}`:                           "must be a string",
	} {
		_, err := DeploymentNames(automationOf(`{}`, `{"type":"do-nothing"}`, action))
		require.ErrorContains(t, err, want, action)
		require.ErrorContains(t, err, "actions[1]", action)
	}
	a := automationOf(`{}`, `{"type":"run-deployment","deploymentName":"a/b"}`)
	a.Spec.ActionsOnResolve = []apiextensionsv1.JSON{{Raw: []byte(`{"type":"resume-deployment","deploymentName":"a/b"}`)},
		{Raw: []byte(`{"type":"pause-deployment","deploymentName":"c/d"}`)}}
	names, err := DeploymentNames(a)
	require.NoError(t, err)
	require.Equal(t, []string{"a/b", "c/d"}, names)
}
