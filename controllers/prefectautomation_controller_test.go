package controllers

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// stuckTrigger fires when a flow run that entered Running has no other
// state within 10 minutes.
const stuckTrigger = `{"type":"event","posture":"Proactive","after":["prefect.flow-run.Running"],
	"expect":["prefect.flow-run.*"],"for_each":["prefect.resource.id"],
	"match":{"prefect.resource.id":"prefect.flow-run.*"},"threshold":1,"within":600}`

func (b *testBundle) createAutomation(t *testing.T, name string, mutate func(*v1alpha1.PrefectAutomation)) *v1alpha1.PrefectAutomation {
	t.Helper()
	a := &v1alpha1.PrefectAutomation{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}}
	mutate(a)
	require.NoError(t, b.c.Create(b.ctx, a))
	return a
}

func jsonList(s ...string) []apiextensionsv1.JSON {
	out := make([]apiextensionsv1.JSON, len(s))
	for i, v := range s {
		out[i] = *rawJSON(v)
	}
	return out
}

// serverAutomation reads the automation as the server has it, its trigger
// and actions decoded.
type serverAutomation struct {
	prefectapi.Automation
	trigger map[string]any
	actions []map[string]any
}

func readAutomation(t require.TestingT, api *prefectapi.Client, id string) (serverAutomation, error) {
	have, err := api.ReadAutomation(context.Background(), id)
	if err != nil {
		return serverAutomation{}, err
	}
	out := serverAutomation{Automation: have}
	require.NoError(t, json.Unmarshal(have.Trigger, &out.trigger))
	for _, raw := range have.Actions {
		var a map[string]any
		require.NoError(t, json.Unmarshal(raw, &a))
		out.actions = append(out.actions, a)
	}
	return out, nil
}

// hasEvent says whether an Event of that reason names the resource.
func (b *testBundle) hasEvent(t *testing.T, name, reason string) bool {
	var evs corev1.EventList
	require.NoError(t, b.c.List(b.ctx, &evs, client.InNamespace(b.ns)))
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			return true
		}
	}
	return false
}

func TestAutomationLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()

	a := b.createAutomation(t, "stuck-runs", func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Server.URL = srv.url
		a.Spec.Name = "cancel stuck runs"
		a.Spec.Description = "runs Running for 10 minutes are cancelled"
		a.Spec.Trigger = *rawJSON(stuckTrigger)
		a.Spec.Actions = jsonList(`{"type":"cancel-flow-run"}`)
		a.Spec.Tags = []string{"ops"}
	})

	// Created as the spec says, enabled.
	got := waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, a.Name)
	id := got.Status.AutomationID
	require.NotEmpty(t, id)
	require.Equal(t, "cancel stuck runs", got.Status.AutomationName)
	have, err := readAutomation(t, api, id)
	require.NoError(t, err)
	require.Equal(t, "cancel stuck runs", have.Name)
	require.Equal(t, "runs Running for 10 minutes are cancelled", have.Description)
	require.True(t, have.Enabled)
	require.Equal(t, []string{"ops"}, have.Tags)
	require.Equal(t, "Proactive", have.trigger["posture"])
	require.EqualValues(t, 600, have.trigger["within"])
	require.Equal(t, []any{"prefect.flow-run.Running"}, have.trigger["after"])
	require.Len(t, have.actions, 1)
	require.Equal(t, "cancel-flow-run", have.actions[0]["type"])
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	require.Equal(t, metav1.ConditionTrue, ready.Status)
	require.Equal(t, ReasonEnabled, ready.Reason)

	// Passes that find nothing to change write nothing, nor does a spec
	// change that is not the server's business: the automation keeps its
	// updated time and its trigger's id (a write would give it another and
	// start its window afresh).
	b.passes(t, b.env.automationCalls, 3)
	require.NoError(t, update(b, &v1alpha1.PrefectAutomation{}, a.Name, func(a *v1alpha1.PrefectAutomation) {
		a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	}))
	waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, a.Name)
	b.passes(t, b.env.automationCalls, 3)
	after, err := readAutomation(t, api, id)
	require.NoError(t, err)
	require.Equal(t, have.Updated, after.Updated, "no pass wrote to the automation")
	require.Equal(t, have.trigger["id"], after.trigger["id"])
	require.False(t, b.hasEvent(t, a.Name, "Updated"), "nothing was written, so nothing recorded")

	// An edit changes it in place: the same id, disabled, another action.
	require.NoError(t, update(b, &v1alpha1.PrefectAutomation{}, a.Name, func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Enabled = new(false)
		a.Spec.Description = ""
		a.Spec.Actions = jsonList(`{"type":"change-flow-run-state","state":"FAILED","message":"stuck"}`)
		a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	}))
	got = waitForCondition(t, b, &v1alpha1.PrefectAutomation{}, a.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDisabled)
	require.Equal(t, id, got.Status.AutomationID)
	have, err = readAutomation(t, api, id)
	require.NoError(t, err)
	require.False(t, have.Enabled)
	require.Empty(t, have.Description)
	require.Len(t, have.actions, 1)
	require.Equal(t, "FAILED", have.actions[0]["state"])
	require.Equal(t, "stuck", have.actions[0]["message"])
	require.Eventually(t, func() bool { return b.hasEvent(t, a.Name, "Updated") }, wait, tick)

	// Changes made on the server are set back, with an Event.
	srv.call(t, http.MethodPut, "/automations/"+id, map[string]any{
		"name": "cancel stuck runs", "enabled": true, "tags": []string{},
		"trigger": json.RawMessage(strings.Replace(stuckTrigger, `"within":600`, `"within":60`, 1)),
		"actions": []map[string]any{{"type": "cancel-flow-run"}},
	}, nil)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		h, err := readAutomation(ct, api, id)
		if !assert.NoError(ct, err) {
			return
		}
		assert.False(ct, h.Enabled)
		assert.Equal(ct, []string{"ops"}, h.Tags)
		assert.EqualValues(ct, 600, h.trigger["within"])
		if assert.Len(ct, h.actions, 1) {
			assert.Equal(ct, "change-flow-run-state", h.actions[0]["type"])
		}
	}, wait, tick, "drift corrected")
	require.Eventually(t, func() bool { return b.hasEvent(t, a.Name, "DriftCorrected") }, wait, tick,
		"an Event says the automation was set back")

	// Deleted on the server: made again, and recorded.
	srv.call(t, http.MethodDelete, "/automations/"+id, nil, nil)
	require.Eventually(t, func() bool {
		cur := &v1alpha1.PrefectAutomation{}
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(a), cur))
		return cur.Status.AutomationID != "" && cur.Status.AutomationID != id
	}, wait, tick)
	got = waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, a.Name)
	id = got.Status.AutomationID
	named, err := api.AutomationsNamed(b.ctx, "cancel stuck runs")
	require.NoError(t, err)
	require.Len(t, named, 1)
	require.Equal(t, id, named[0].ID)

	// A rename renames the automation recorded.
	require.NoError(t, update(b, &v1alpha1.PrefectAutomation{}, a.Name, func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Name = "cancel runs stuck in Running"
	}))
	require.Eventually(t, func() bool {
		h, err := readAutomation(t, api, id)
		return err == nil && h.Name == "cancel runs stuck in Running"
	}, wait, tick)
	got = waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, a.Name)
	require.Equal(t, id, got.Status.AutomationID)
	require.Equal(t, "cancel runs stuck in Running", got.Status.AutomationName)

	// Deleted with policy Delete: the automation goes from the server.
	b.deleteAndWait(t, got)
	_, err = api.ReadAutomation(b.ctx, id)
	require.True(t, prefectapi.IsNotFound(err), "%v", err)
}

func TestAutomationAdoptsByName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()
	existing, err := api.CreateAutomation(b.ctx, prefectapi.AutomationWrite{Name: "made-in-the-ui", Enabled: true,
		Trigger: json.RawMessage(`{"posture":"Reactive","expect":["prefect.flow-run.Failed"]}`),
		Actions: []json.RawMessage{json.RawMessage(`{"type":"do-nothing"}`)}})
	require.NoError(t, err)

	// The automation of the spec's name is adopted and set to the spec;
	// with policy Orphan it stays when the resource goes.
	a := b.createAutomation(t, "made-in-the-ui", func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Server.URL = srv.url
		a.Spec.Trigger = *rawJSON(`{"posture":"Reactive","expect":["prefect.flow-run.Crashed"]}`)
		a.Spec.Actions = jsonList(`{"type":"cancel-flow-run"}`)
		a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	})
	got := waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, a.Name)
	require.Equal(t, existing.ID, got.Status.AutomationID)
	have, err := readAutomation(t, api, existing.ID)
	require.NoError(t, err)
	require.Equal(t, []any{"prefect.flow-run.Crashed"}, have.trigger["expect"])
	b.deleteAndWait(t, got)
	named, err := api.AutomationsNamed(b.ctx, "made-in-the-ui")
	require.NoError(t, err)
	require.Len(t, named, 1, "orphaned: kept, and no other made")
	require.Equal(t, existing.ID, named[0].ID)
}

func TestAutomationDeploymentNameAndRejected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()

	// A trigger the server refuses at creation: Rejected with its message,
	// and nothing made.
	bad := b.createAutomation(t, "bad", func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Server.URL = srv.url
		a.Spec.Trigger = *rawJSON(`{"type":"event","posture":"Sideways","expect":["x"]}`)
		a.Spec.Actions = jsonList(`{"type":"do-nothing"}`)
	})
	got := waitForCondition(t, b, &v1alpha1.PrefectAutomation{}, bad.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonRejected)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced).Message, "Posture.Reactive or Posture.Proactive")
	require.Equal(t, ReasonNotSynced, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Reason)
	named, err := api.AutomationsNamed(b.ctx, "bad")
	require.NoError(t, err)
	require.Empty(t, named)
	b.deleteAndWait(t, bad)

	// An action naming a deployment that is not there: reported, then
	// resolved when a PrefectDeployment makes it.
	a := b.createAutomation(t, "rerun-on-failure", func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Server.URL = srv.url
		a.Spec.Trigger = *rawJSON(`{"posture":"Reactive","expect":["prefect.flow-run.Failed"],
			"match_related":{"prefect.resource.id":"prefect.flow.*","prefect.resource.role":"flow"}}`)
		a.Spec.Actions = jsonList(`{"type":"run-deployment","deploymentName":"cleanup-flow/cleanup","parameters":{"full":true}}`)
		a.Spec.ActionsOnResolve = jsonList(`{"type":"resume-deployment","deploymentName":"cleanup-flow/cleanup"}`)
	})
	got = waitForCondition(t, b, &v1alpha1.PrefectAutomation{}, a.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonDeploymentNotFound)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced).Message, "cleanup-flow/cleanup")
	require.Empty(t, got.Status.AutomationID)
	b.createDeployment(t, "cleanup", func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Server.URL = srv.url
		d.Spec.FlowName = "cleanup-flow"
	})
	dep := waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, "cleanup")
	got = waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, a.Name)
	have, err := readAutomation(t, api, got.Status.AutomationID)
	require.NoError(t, err)
	require.Equal(t, "run-deployment", have.actions[0]["type"])
	require.Equal(t, "selected", have.actions[0]["source"])
	require.Equal(t, dep.Status.DeploymentID, have.actions[0]["deployment_id"])
	require.Equal(t, map[string]any{"full": true}, have.actions[0]["parameters"])
	require.NotContains(t, string(have.Actions[0]), "deploymentName")
	require.Contains(t, string(have.ActionsOnResolve[0]), dep.Status.DeploymentID)

	// A spec the server refuses later: Rejected, and the automation as it was.
	require.NoError(t, update(b, &v1alpha1.PrefectAutomation{}, a.Name, func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Trigger = *rawJSON(`{"posture":"Reactive","expect":["prefect.flow-run.Failed"],"threshold":"many"}`)
	}))
	waitForCondition(t, b, &v1alpha1.PrefectAutomation{}, a.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonRejected)
	after, err := readAutomation(t, api, have.ID)
	require.NoError(t, err)
	require.Equal(t, have.Updated, after.Updated)
	require.Equal(t, have.trigger, after.trigger)

	// A deploymentName where none belongs is refused before the server is asked.
	require.NoError(t, update(b, &v1alpha1.PrefectAutomation{}, a.Name, func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Trigger = *rawJSON(`{"posture":"Reactive","expect":["prefect.flow-run.Failed"]}`)
		a.Spec.Actions = jsonList(`{"type":"cancel-flow-run","deploymentName":"cleanup-flow/cleanup"}`)
	}))
	got = waitForCondition(t, b, &v1alpha1.PrefectAutomation{}, a.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonRejected)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced).Message, "deploymentName applies to")
}

func TestAutomationServerDownHoldsDeletion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()

	a := b.createAutomation(t, "held", func(a *v1alpha1.PrefectAutomation) {
		a.Spec.Server.URL = srv.url
		a.Spec.Trigger = *rawJSON(stuckTrigger)
		a.Spec.ActionsOnTrigger = jsonList(`{"type":"do-nothing"}`)
	})
	got := waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, a.Name)
	id := got.Status.AutomationID

	// The server goes down: reported, and the deletion waits for it.
	srv.stop()
	waitForCondition(t, b, &v1alpha1.PrefectAutomation{}, a.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonServerUnavailable)
	got = waitForCondition(t, b, &v1alpha1.PrefectAutomation{}, a.Name, v1alpha1.ConditionReady, metav1.ConditionUnknown, ReasonNotSynced)
	require.NoError(t, b.c.Delete(b.ctx, got))
	require.Eventually(t, func() bool {
		held := &v1alpha1.PrefectAutomation{}
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(a), held), "held while the server is down")
		c := meta.FindStatusCondition(held.Status.Conditions, v1alpha1.ConditionSynced)
		return c.Reason == ReasonServerUnavailable && strings.HasPrefix(c.Message, "deleting it from the server")
	}, wait, tick)

	// Back up: the automation is deleted and the resource goes.
	srv.start()
	b.waitForAbsent(t, a.Name, &v1alpha1.PrefectAutomation{})
	_, err := api.ReadAutomation(b.ctx, id)
	require.True(t, prefectapi.IsNotFound(err), "%v", err)
}

func TestAutomationValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	trigger := *rawJSON(`{"posture":"Reactive","expect":["x"]}`)
	for name, tc := range map[string]struct {
		spec v1alpha1.PrefectAutomationSpec
		want string
	}{
		"no action": {v1alpha1.PrefectAutomationSpec{Server: v1alpha1.ServerReference{Name: "s"}, Trigger: trigger},
			"give at least one action"},
		"empty lists": {v1alpha1.PrefectAutomationSpec{Server: v1alpha1.ServerReference{Name: "s"}, Trigger: trigger,
			Actions: []apiextensionsv1.JSON{}, ActionsOnResolve: []apiextensionsv1.JSON{}}, "give at least one action"},
		"server twice": {v1alpha1.PrefectAutomationSpec{Server: v1alpha1.ServerReference{Name: "s", URL: "http://x/api"},
			Trigger: trigger, Actions: jsonList(`{"type":"do-nothing"}`)}, "set exactly one of server.name or server.url"},
		"trigger not an object": {v1alpha1.PrefectAutomationSpec{Server: v1alpha1.ServerReference{Name: "s"},
			Trigger: *rawJSON(`["x"]`), Actions: jsonList(`{"type":"do-nothing"}`)}, "spec.trigger: Invalid value"},
		"action not an object": {v1alpha1.PrefectAutomationSpec{Server: v1alpha1.ServerReference{Name: "s"},
			Trigger: trigger, Actions: jsonList(`"cancel-flow-run"`)}, "spec.actions[0]: Invalid value"},
		"deletion policy": {v1alpha1.PrefectAutomationSpec{Server: v1alpha1.ServerReference{Name: "s"},
			Trigger: trigger, Actions: jsonList(`{"type":"do-nothing"}`), DeletionPolicy: "Keep"}, "Unsupported value: \"Keep\""},
	} {
		a := &v1alpha1.PrefectAutomation{ObjectMeta: metav1.ObjectMeta{GenerateName: "v-", Namespace: b.ns}, Spec: tc.spec}
		err := b.c.Create(b.ctx, a)
		require.ErrorContains(t, err, tc.want, name)
	}
	// One list of actions is enough, and enabled and the policy default.
	a := &v1alpha1.PrefectAutomation{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: b.ns}, Spec: v1alpha1.PrefectAutomationSpec{
		Server: v1alpha1.ServerReference{Name: "s"}, Trigger: trigger, ActionsOnResolve: jsonList(`{"type":"do-nothing"}`)}}
	require.NoError(t, b.c.Create(b.ctx, a))
	require.True(t, *a.Spec.Enabled)
	require.Equal(t, v1alpha1.DeletionPolicyDelete, a.Spec.DeletionPolicy)
}

// TestAutomationSamples syncs the automation samples against a server:
// the server takes their triggers and actions, and then a pass finds
// nothing to change.
func TestAutomationSamples(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()
	_, err := api.CreateWorkPool(b.ctx, prefectapi.WorkPoolWrite{Name: "kubernetes-pool", Type: "kubernetes"})
	require.NoError(t, err)

	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "prefectgo_v1alpha1_prefectautomation_*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	var names []string
	for _, file := range files {
		for _, u := range readManifests(t, file) {
			u.SetNamespace(b.ns)
			require.NoError(t, unstructured.SetNestedMap(u.Object, map[string]any{"url": srv.url}, "spec", "server"))
			require.NoError(t, b.c.Create(b.ctx, u), "create %s %s from %s", u.GetKind(), u.GetName(), file)
			if u.GetKind() == "PrefectAutomation" {
				names = append(names, u.GetName())
			}
		}
	}
	require.Len(t, names, 2)
	updated := map[string]time.Time{}
	for _, name := range names {
		got := waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, name)
		have, err := api.ReadAutomation(b.ctx, got.Status.AutomationID)
		require.NoError(t, err)
		updated[name] = have.Updated
	}
	b.passes(t, b.env.automationCalls, 4)
	for _, name := range names {
		got := waitForSynced(t, b, &v1alpha1.PrefectAutomation{}, name)
		have, err := api.ReadAutomation(b.ctx, got.Status.AutomationID)
		require.NoError(t, err)
		require.Equal(t, updated[name], have.Updated, "%s written again", name)
	}
}
