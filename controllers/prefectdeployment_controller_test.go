package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

func (b *testBundle) createDeployment(t *testing.T, name string, mutate func(*v1alpha1.PrefectDeployment)) *v1alpha1.PrefectDeployment {
	t.Helper()
	d := &v1alpha1.PrefectDeployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}}
	mutate(d)
	require.NoError(t, b.c.Create(b.ctx, d))
	return d
}

func rawJSON(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

// scheduledRun is a run the scheduler made; its idempotency key names the
// deployment, the schedule and the date.
type scheduledRun struct {
	ID             string `json:"id"`
	IdempotencyKey string `json:"idempotency_key"`
	AutoScheduled  bool   `json:"auto_scheduled"`
}

// scheduledRuns lists the deployment's runs in the Scheduled state.
func scheduledRuns(t *testing.T, srv *testServer, deployment string) []scheduledRun {
	t.Helper()
	var runs []scheduledRun
	srv.call(t, http.MethodPost, "/flow_runs/filter", map[string]any{
		"deployments": map[string]any{"id": map[string]any{"any_": []string{deployment}}},
		"flow_runs":   map[string]any{"state": map[string]any{"type": map[string]any{"any_": []string{"SCHEDULED"}}}},
		"limit":       200,
	}, &runs)
	return runs
}

// runsOf counts the runs of each schedule (by id), requiring that the
// scheduler made each run once.
func runsOf(t require.TestingT, runs []scheduledRun) map[string]int {
	seen, out := map[string]bool{}, map[string]int{}
	for _, r := range runs {
		require.True(t, r.AutoScheduled)
		require.False(t, seen[r.IdempotencyKey], "run %s made twice", r.IdempotencyKey)
		seen[r.IdempotencyKey] = true
		out[strings.Fields(r.IdempotencyKey)[2]]++
	}
	return out
}

// schedulesBySlug indexes a deployment's schedules.
func schedulesBySlug(d prefectapi.Deployment) map[string]prefectapi.DeploymentSchedule {
	out := map[string]prefectapi.DeploymentSchedule{}
	for _, s := range d.Schedules {
		out[deref(s.Slug, "")] = s
	}
	return out
}

func TestDeploymentLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// The scheduler looks every second, so the test sees its runs soon.
	srv := startServer(t, "", "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=1",
		"PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS=1")
	api := srv.api()
	_, err := api.CreateWorkPool(b.ctx, prefectapi.WorkPoolWrite{Name: "dep-pool", Type: "process"})
	require.NoError(t, err)

	paramSchema := `{"type":"object","properties":{"n":{"type":"integer"},"who":{"type":"string"}}}`
	d := b.createDeployment(t, "etl", func(d *v1alpha1.PrefectDeployment) {
		s := &d.Spec
		s.Server.URL = srv.url
		s.FlowName = "etl-flow"
		s.Entrypoint = "flows/etl.py:etl"
		s.PullSteps = []apiextensionsv1.JSON{*rawJSON(`{"prefect.deployments.steps.set_working_directory":{"directory":"/opt/flows"}}`)}
		s.Parameters = rawJSON(`{"n":1}`)
		s.ParameterOpenAPISchema = rawJSON(paramSchema)
		s.JobVariables = rawJSON(`{"env":{"MODE":"batch"}}`)
		s.WorkPool, s.WorkQueue = "dep-pool", "batch"
		s.Tags = []string{"etl", "nightly"}
		s.ConcurrencyLimit = new(int32(2))
		s.ConcurrencyOptions = &v1alpha1.ConcurrencyOptions{CollisionStrategy: "CANCEL_NEW"}
		s.Description, s.Version = "nightly ETL", "v1"
		s.Schedules = []v1alpha1.DeploymentSchedule{
			{Slug: "hourly", Cron: "0 * * * *", Timezone: "Europe/Paris", Parameters: rawJSON(`{"who":"cron"}`), MaxScheduledRuns: new(int32(4))},
			{Slug: "every-2h", Interval: new(intstr.FromString("2h")), MaxScheduledRuns: new(int32(4))},
		}
	})

	// Created as the spec says.
	got := waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, d.Name)
	have, err := api.ReadDeploymentByName(b.ctx, "etl-flow", "etl")
	require.NoError(t, err)
	require.Equal(t, have.ID, got.Status.DeploymentID)
	require.Equal(t, have.FlowID, got.Status.FlowID)
	require.Equal(t, "etl-flow/etl", got.Status.DeploymentName)
	require.Equal(t, "flows/etl.py:etl", *have.Entrypoint)
	require.JSONEq(t, `[{"prefect.deployments.steps.set_working_directory":{"directory":"/opt/flows"}}]`, string(have.PullSteps))
	require.JSONEq(t, `{"n":1}`, string(have.Parameters))
	require.JSONEq(t, paramSchema, string(have.ParameterOpenAPISchema))
	require.True(t, have.EnforceParameterSchema)
	require.JSONEq(t, `{"env":{"MODE":"batch"}}`, string(have.JobVariables))
	require.Equal(t, "dep-pool", *have.WorkPoolName)
	require.Equal(t, "batch", *have.WorkQueueName)
	require.Equal(t, []string{"etl", "nightly"}, have.Tags)
	require.EqualValues(t, 2, *have.Limit())
	require.Equal(t, "CANCEL_NEW", have.ConcurrencyOptions.CollisionStrategy)
	require.Equal(t, "nightly ETL", *have.Description)
	require.Equal(t, "v1", *have.Version)
	scheds := schedulesBySlug(have)
	require.Len(t, scheds, 2)
	hourly, every2h := scheds["hourly"], scheds["every-2h"]
	require.Equal(t, "0 * * * *", hourly.Schedule.Cron)
	require.Equal(t, "Europe/Paris", *hourly.Schedule.Timezone)
	require.JSONEq(t, `{"who":"cron"}`, string(hourly.Parameters))
	require.EqualValues(t, 4, *hourly.MaxScheduledRuns)
	require.InDelta(t, 7200, *every2h.Schedule.Interval, 0)
	require.EqualValues(t, 4, *every2h.MaxScheduledRuns)
	_, err = api.ReadWorkQueue(b.ctx, "dep-pool", "batch")
	require.NoError(t, err, "the server made the queue the deployment names")

	// The scheduler makes the runs of both schedules.
	var made []scheduledRun
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		made = scheduledRuns(t, srv, have.ID)
		n := runsOf(ct, made)
		assert.Positive(ct, n[hourly.ID])
		assert.Positive(ct, n[every2h.ID])
	}, wait, tick)
	var stamp struct {
		Updated string `json:"updated"`
	}
	srv.call(t, http.MethodGet, "/deployments/"+have.ID, nil, &stamp)

	// Passes that find nothing to change write nothing, nor does a spec
	// change that is not the server's business: every run made is still
	// there, none made twice, the deployment never written.
	b.passes(t, b.env.deploymentCalls, 3)
	require.NoError(t, update(b, &v1alpha1.PrefectDeployment{}, d.Name, func(d *v1alpha1.PrefectDeployment) {
		d.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	}))
	waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, d.Name)
	b.passes(t, b.env.deploymentCalls, 3)
	after := scheduledRuns(t, srv, have.ID)
	runsOf(t, after)
	ids := map[string]bool{}
	for _, r := range after {
		ids[r.ID] = true
	}
	for _, r := range made {
		require.True(t, ids[r.ID], "run %s (%s) was deleted", r.ID, r.IdempotencyKey)
	}
	var stampAfter struct {
		Updated string `json:"updated"`
	}
	srv.call(t, http.MethodGet, "/deployments/"+have.ID, nil, &stampAfter)
	require.Equal(t, stamp.Updated, stampAfter.Updated, "no pass wrote to the deployment or its schedules")

	// A schedule's cron changed in the spec is changed in place: one
	// schedule with that slug, the same id; the other is left alone.
	require.NoError(t, update(b, &v1alpha1.PrefectDeployment{}, d.Name, func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Schedules[0].Cron = "30 * * * *"
	}))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		h, err := api.ReadDeploymentByName(b.ctx, "etl-flow", "etl")
		if !assert.NoError(ct, err) {
			return
		}
		assert.Len(ct, h.Schedules, 2)
		s := schedulesBySlug(h)
		assert.Equal(ct, hourly.ID, s["hourly"].ID)
		assert.Equal(ct, "30 * * * *", s["hourly"].Schedule.Cron)
		assert.Equal(ct, every2h.ID, s["every-2h"].ID)
	}, wait, tick)
	waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, d.Name)

	// Parameters that break the schema: the server's refusal is the reason.
	require.NoError(t, update(b, &v1alpha1.PrefectDeployment{}, d.Name, func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Parameters = rawJSON(`{"n":"many"}`)
	}))
	got = waitForCondition(t, b, &v1alpha1.PrefectDeployment{}, d.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonRejected)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSynced).Message, "is not of type 'integer'")
	have, err = api.ReadDeploymentByName(b.ctx, "etl-flow", "etl")
	require.NoError(t, err)
	require.JSONEq(t, `{"n":1}`, string(have.Parameters))
	require.NoError(t, update(b, &v1alpha1.PrefectDeployment{}, d.Name, func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Parameters = rawJSON(`{"n":3}`)
	}))
	waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, d.Name)
	have, err = api.ReadDeploymentByName(b.ctx, "etl-flow", "etl")
	require.NoError(t, err)
	require.JSONEq(t, `{"n":3}`, string(have.Parameters))

	// Changes made on the server are set back: the fields, a schedule
	// paused there (in place), one deleted there (made again), one added
	// there (deleted).
	srv.call(t, http.MethodPatch, "/deployments/"+have.ID, map[string]any{"description": "edited in the UI", "tags": []string{}}, nil)
	srv.call(t, http.MethodPatch, "/deployments/"+have.ID+"/schedules/"+hourly.ID, map[string]any{"active": false}, nil)
	srv.call(t, http.MethodDelete, "/deployments/"+have.ID+"/schedules/"+every2h.ID, nil, nil)
	srv.call(t, http.MethodPost, "/deployments/"+have.ID+"/schedules", []map[string]any{
		{"schedule": map[string]any{"cron": "@daily"}, "slug": "extra"}}, nil)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		h, err := api.ReadDeploymentByName(b.ctx, "etl-flow", "etl")
		if !assert.NoError(ct, err) {
			return
		}
		assert.Equal(ct, "nightly ETL", *h.Description)
		assert.Equal(ct, []string{"etl", "nightly"}, h.Tags)
		s := schedulesBySlug(h)
		assert.Len(ct, s, 2)
		assert.Equal(ct, hourly.ID, s["hourly"].ID)
		assert.True(ct, s["hourly"].Active)
		assert.Contains(ct, s, "every-2h")
	}, wait, tick, "drift corrected")

	// A schedule removed from the spec goes; the other stays as it was.
	require.NoError(t, update(b, &v1alpha1.PrefectDeployment{}, d.Name, func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Schedules = d.Spec.Schedules[:1]
		d.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	}))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		h, err := api.ReadDeploymentByName(b.ctx, "etl-flow", "etl")
		if assert.NoError(ct, err) && assert.Len(ct, h.Schedules, 1) {
			assert.Equal(ct, hourly.ID, h.Schedules[0].ID)
		}
	}, wait, tick)

	// Deleted with policy Delete: the deployment goes from the server.
	b.deleteAndWait(t, waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, d.Name))
	_, err = api.ReadDeploymentByName(b.ctx, "etl-flow", "etl")
	require.True(t, prefectapi.IsNotFound(err), "%v", err)
}

func TestDeploymentOrphanAndTrouble(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, "")
	api := srv.api()

	// Parameters the schema refuses at creation: nothing is made.
	bad := b.createDeployment(t, "bad", func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Server.URL = srv.url
		d.Spec.ParameterOpenAPISchema = rawJSON(`{"type":"object","properties":{"n":{"type":"integer"}}}`)
		d.Spec.Parameters = rawJSON(`{"n":"x"}`)
	})
	waitForCondition(t, b, &v1alpha1.PrefectDeployment{}, bad.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonRejected)
	_, err := api.ReadDeploymentByName(b.ctx, "bad", "bad")
	require.True(t, prefectapi.IsNotFound(err), "%v", err)
	b.deleteAndWait(t, bad)

	// A work pool that is not there yet: reported, then made by a PrefectWorkPool.
	dep := b.createDeployment(t, "job", func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Server.URL = srv.url
		d.Spec.WorkPool = "later-pool"
		d.Spec.Schedules = []v1alpha1.DeploymentSchedule{{Slug: "daily", Cron: "@daily"}}
	})
	waitForCondition(t, b, &v1alpha1.PrefectDeployment{}, dep.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonWorkPoolNotFound)
	b.createPool(t, "later", func(wp *v1alpha1.PrefectWorkPool) {
		wp.Spec.Server.URL, wp.Spec.Name, wp.Spec.Type = srv.url, "later-pool", "process"
		wp.Spec.Workers.Replicas = new(int32(0))
	})
	got := waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, dep.Name)
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	require.Equal(t, ReasonNotPolled, ready.Reason, "no worker polls it")

	// An orphaned deployment stays on the server.
	orphan := b.createDeployment(t, "kept", func(d *v1alpha1.PrefectDeployment) {
		d.Spec.Server.URL = srv.url
		d.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
	})
	waitForSynced(t, b, &v1alpha1.PrefectDeployment{}, orphan.Name)
	b.deleteAndWait(t, orphan)
	_, err = api.ReadDeploymentByName(b.ctx, "kept", "kept")
	require.NoError(t, err, "orphaned")

	// The server down: reported, and the deletion waits for it.
	srv.stop()
	waitForCondition(t, b, &v1alpha1.PrefectDeployment{}, dep.Name, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonServerUnavailable)
	require.NoError(t, b.c.Delete(b.ctx, got))
	require.Eventually(t, func() bool {
		held := &v1alpha1.PrefectDeployment{}
		require.NoError(t, b.c.Get(b.ctx, client.ObjectKeyFromObject(dep), held), "held while the server is down")
		c := meta.FindStatusCondition(held.Status.Conditions, v1alpha1.ConditionSynced)
		return c.Reason == ReasonServerUnavailable && strings.HasPrefix(c.Message, "deleting it from the server")
	}, wait, tick)
	srv.start()
	b.waitForAbsent(t, dep.Name, &v1alpha1.PrefectDeployment{})
	_, err = api.ReadDeploymentByName(b.ctx, "job", "job")
	require.True(t, prefectapi.IsNotFound(err), "%v", err)
}

func TestWorkPlaneValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, tc := range map[string]struct {
		spec v1alpha1.PrefectDeploymentSpec
		want string
	}{
		"two kinds": {v1alpha1.PrefectDeploymentSpec{Server: v1alpha1.ServerReference{Name: "s"},
			Schedules: []v1alpha1.DeploymentSchedule{{Slug: "a", Cron: "@daily", RRule: "FREQ=DAILY"}}}, "set exactly one of cron, interval or rrule"},
		"no kind": {v1alpha1.PrefectDeploymentSpec{Server: v1alpha1.ServerReference{Name: "s"},
			Schedules: []v1alpha1.DeploymentSchedule{{Slug: "a"}}}, "set exactly one of cron, interval or rrule"},
		"bad interval": {v1alpha1.PrefectDeploymentSpec{Server: v1alpha1.ServerReference{Name: "s"},
			Schedules: []v1alpha1.DeploymentSchedule{{Slug: "a", Interval: new(intstr.FromString("0s"))}}}, "interval must be a positive"},
		"dayOr without cron": {v1alpha1.PrefectDeploymentSpec{Server: v1alpha1.ServerReference{Name: "s"},
			Schedules: []v1alpha1.DeploymentSchedule{{Slug: "a", RRule: "FREQ=DAILY", DayOr: new(false)}}}, "dayOr applies to cron schedules only"},
		"server twice": {v1alpha1.PrefectDeploymentSpec{Server: v1alpha1.ServerReference{Name: "s", URL: "http://x/api"}},
			"set exactly one of server.name or server.url"},
	} {
		d := &v1alpha1.PrefectDeployment{ObjectMeta: metav1.ObjectMeta{GenerateName: "v-", Namespace: b.ns}, Spec: tc.spec}
		err := b.c.Create(b.ctx, d)
		require.ErrorContains(t, err, tc.want, name)
	}
	// Slugs are the schedules' keys.
	d := &v1alpha1.PrefectDeployment{ObjectMeta: metav1.ObjectMeta{Name: "dup", Namespace: b.ns}, Spec: v1alpha1.PrefectDeploymentSpec{
		Server:    v1alpha1.ServerReference{Name: "s"},
		Schedules: []v1alpha1.DeploymentSchedule{{Slug: "a", Cron: "@daily"}, {Slug: "a", Cron: "@hourly"}}}}
	require.ErrorContains(t, b.c.Create(b.ctx, d), "Duplicate value")

	// A queue's pool and name cannot change.
	q := b.createQueue(t, "q", func(q *v1alpha1.PrefectWorkQueue) { q.Spec.Server.Name, q.Spec.WorkPool = "s", "p" })
	// The controller may add its finalizer meanwhile: a conflict is retried
	// on the latest version, so only the validation's refusal ends it.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &v1alpha1.PrefectWorkQueue{}
		if err := b.c.Get(b.ctx, client.ObjectKeyFromObject(q), cur); err != nil {
			return err
		}
		cur.Spec.WorkPool = "other"
		return b.c.Update(b.ctx, cur)
	})
	require.ErrorContains(t, err, "workPool cannot change")

	// A pool's template comes from one place, and a patch needs what its op needs.
	for name, tc := range map[string]struct {
		spec v1alpha1.PrefectWorkPoolSpec
		want string
	}{
		"template twice": {v1alpha1.PrefectWorkPoolSpec{Server: v1alpha1.ServerReference{Name: "s"},
			BaseJobTemplate:     &apiextensionsv1.JSON{Raw: []byte(`{}`)},
			BaseJobTemplateFrom: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Key: "k"}},
			"set at most one of baseJobTemplate and baseJobTemplateFrom"},
		"move without from": {v1alpha1.PrefectWorkPoolSpec{Server: v1alpha1.ServerReference{Name: "s"},
			BaseJobTemplatePatches: []v1alpha1.JSONPatchOperation{{Op: "move", Path: "/a"}}}, "move and copy need from"},
		"unknown op": {v1alpha1.PrefectWorkPoolSpec{Server: v1alpha1.ServerReference{Name: "s"},
			BaseJobTemplatePatches: []v1alpha1.JSONPatchOperation{{Op: "merge", Path: "/a"}}}, "Unsupported value"},
		"path not a pointer": {v1alpha1.PrefectWorkPoolSpec{Server: v1alpha1.ServerReference{Name: "s"},
			BaseJobTemplatePatches: []v1alpha1.JSONPatchOperation{{Op: "remove", Path: "a"}}}, "spec.baseJobTemplatePatches[0].path"},
	} {
		wp := &v1alpha1.PrefectWorkPool{ObjectMeta: metav1.ObjectMeta{GenerateName: "v-", Namespace: b.ns}, Spec: tc.spec}
		require.ErrorContains(t, b.c.Create(b.ctx, wp), tc.want, name)
	}
}
