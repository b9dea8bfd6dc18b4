package controllers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/canary"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// The canary tests run the operator's canary against a real server process
// (prefectServer) standing in for the PrefectServer's pods (serveAt); the
// test plays the Deployment controller (podsUp).

// withCanary enables the canary every interval.
func withCanary(interval time.Duration) func(*v1alpha1.PrefectServer) {
	return func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Canary = &v1alpha1.CanarySpec{Enabled: true, Interval: &metav1.Duration{Duration: interval}}
	}
}

// TestCanaryPasses: a canary flow run goes through the real server's API and
// is deleted; RunsHealthy, the metric and Ready say so; disabled, it all goes.
func TestCanaryPasses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "")
	api := prefectapi.New(url, "")
	ps := b.create(t, "prefect", withCanary(time.Second))
	b.serveAt(t, ps, url)

	// No pod ready: no canary yet, and Ready waits for the pods.
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionRunsHealthy, metav1.ConditionUnknown, ReasonPending)
	requireCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicasReady)
	_, found := canaryGauge(t, b.ns, ps.Name)
	require.False(t, found, "a metric before any canary ran")

	b.podsUp(t, ps)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionRunsHealthy, metav1.ConditionTrue, canary.ReasonPassed)
	got = b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReplicasReady)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message, "the canary passed")
	require.NotNil(t, got.Status.Canary.LastSuccessTime)
	v, found := canaryGauge(t, b.ns, ps.Name)
	require.True(t, found)
	require.EqualValues(t, 1, v)

	// The server saw the canary's run go through its states, with its event.
	var runID string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		evs := serverEvents(t, url, map[string]any{"event": map[string]any{"prefix": []string{"prefectgo.canary."}}})
		if assert.NotEmpty(ct, evs) {
			runID = strings.TrimPrefix(evs[0].Resource["prefect.resource.id"], "prefect.flow-run.")
		}
	}, wait, tick, "no canary event on the server")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var names []string
		for _, e := range serverEvents(t, url, map[string]any{"resource": map[string]any{"id": []string{"prefect.flow-run." + runID}}}) {
			names = append(names, e.Event)
		}
		assert.Subset(ct, names, []string{"prefect.flow-run.Running", "prefect.flow-run.Completed", "prefectgo.canary.running"})
	}, wait, tick)
	require.Eventually(t, func() bool {
		_, err := api.ReadFlowRun(b.ctx, runID)
		return prefectapi.IsNotFound(err)
	}, wait, tick, "the canary's flow run is still on the server")

	// Turned off: condition, status and series go, and no canary run is left.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Canary.Enabled = false })
	require.Eventually(t, func() bool {
		got = b.server(t, ps.Name)
		return got.Status.ObservedGeneration == got.Generation && got.Status.Canary == nil &&
			meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRunsHealthy) == nil
	}, wait, tick)
	requireCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReplicasReady)
	_, found = canaryGauge(t, b.ns, ps.Name)
	require.False(t, found, "the series of a canary turned off")
	n, err := api.CountFlowRuns(b.ctx, canary.FlowName)
	require.NoError(t, err)
	require.Zero(t, n, "canary flow runs left on the server")
}

// TestCanaryServerDown: a server that does not answer fails the canary at
// its first step; one Event for the change, not one per run; back up, it
// passes again, with one Event.
func TestCanaryServerDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "")
	ps := b.create(t, "prefect", withCanary(time.Second))
	b.serveAt(t, ps, url)
	b.podsUp(t, ps)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionRunsHealthy, metav1.ConditionTrue, canary.ReasonPassed)

	b.serveAt(t, ps, "http://127.0.0.1:1/api") // nothing listens there
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionRunsHealthy, metav1.ConditionFalse, string(canary.StepCreateFlow))
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRunsHealthy).Message, "step CreateFlow")
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonRunsUnhealthy)
	v, found := canaryGauge(t, b.ns, ps.Name)
	require.True(t, found)
	require.Zero(t, v)

	// Three more failed canaries make no more Events than the first.
	b.waitForEvent(t, ps, string(canary.StepCreateFlow))
	runs := canaryRuns(t, b.ns, ps.Name)
	require.Eventually(t, func() bool { return canaryRuns(t, b.ns, ps.Name) >= runs+3 }, wait, tick)
	evs := b.canaryEvents(t, ps)
	require.Len(t, evs, 1, "one Event for the change")
	require.Equal(t, corev1.EventTypeWarning, evs[0].Type)
	require.Nil(t, evs[0].Series, "the Event was emitted again")

	b.serveAt(t, ps, url)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionRunsHealthy, metav1.ConditionTrue, canary.ReasonPassed)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReplicasReady)
	b.waitForEvent(t, ps, canary.ReasonPassed)
	runs = canaryRuns(t, b.ns, ps.Name)
	require.Eventually(t, func() bool { return canaryRuns(t, b.ns, ps.Name) >= runs+2 }, wait, tick)
	require.Len(t, b.canaryEvents(t, ps), 2)
}

// TestCanaryAuth: the canary authenticates with spec.api.authSecretRef's
// Secret; a wrong one is Unauthorized, and no secret reaches the status or
// an Event.
func TestCanaryAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "admin:s3cret-right")
	require.NoError(t, b.c.Create(b.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: b.ns},
		Data: map[string][]byte{"auth": []byte("admin:s3cret-right")}}))
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		withCanary(time.Second)(ps)
		ps.Spec.API.AuthSecretRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "auth"}
	})
	b.serveAt(t, ps, url)
	b.podsUp(t, ps)
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionRunsHealthy, metav1.ConditionTrue, canary.ReasonPassed)

	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: "auth"}, s); err != nil {
			return err
		}
		s.Data["auth"] = []byte("admin:s3cret-wrong")
		return b.c.Update(b.ctx, s)
	}))
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionRunsHealthy, metav1.ConditionFalse, canary.ReasonUnauthorized)
	b.waitForEvent(t, ps, canary.ReasonUnauthorized)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRunsHealthy).Message
	require.Contains(t, msg, "step CreateFlow")
	for _, c := range got.Status.Conditions {
		require.NotContains(t, c.Message, "s3cret", c.Type)
	}
	for _, e := range b.canaryEvents(t, ps) {
		require.NotContains(t, e.Note, "s3cret")
	}
}

// TestCanaryGatesReady: after a rollout, Ready waits for a canary on the new
// pods, even though they are ready; one that passed on the old pods does not count.
func TestCanaryGatesReady(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url := prefectServer(t, "")
	// An hour: the canaries seen here are the ones rollouts start.
	ps := b.create(t, "prefect", withCanary(time.Hour))
	b.serveAt(t, ps, url)
	b.podsUp(t, ps)
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReplicasReady)
	first := got.Status.Canary.Rollout
	require.True(t, strings.HasPrefix(first, "1/"), first)

	// A new generation rolls the pods: ready pods of the old template do not make Ready.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Logging.Level = "DEBUG" })
	got = b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonCanaryPending)
	require.Equal(t, got.Generation, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).ObservedGeneration)
	require.EqualValues(t, 1, got.Status.ReadyReplicas)
	requireCondition(t, got, v1alpha1.ConditionRunsHealthy, metav1.ConditionTrue, canary.ReasonPassed)

	// The new pods are up: a canary runs on them at once, and Ready follows.
	b.podsUp(t, ps)
	got = b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReplicasReady)
	require.NotEqual(t, first, got.Status.Canary.Rollout)
	dep := b.waitForDeployment(t, ps, nil)
	require.Equal(t, got.Status.Canary.Rollout,
		strings.Join([]string{itoa(got.Generation), dep.Spec.Template.Annotations[builders.ConfigHashAnnotation]}, "/"))
}

// TestCanaryDue: when a pass runs the canary, and how long until the next.
func TestCanaryDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ps := &v1alpha1.PrefectServer{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	withCanary(time.Minute)(ps)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(1)), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{builders.ConfigHashAnnotation: "abc"}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
	}
	ran := func(ago time.Duration, rollout string) *v1alpha1.PrefectServer {
		ps := ps.DeepCopy()
		ps.Status.Canary = &v1alpha1.CanaryStatus{LastRunTime: new(metav1.NewTime(now.Add(-ago))), Rollout: rollout}
		return ps
	}
	rollingOut := dep.DeepCopy()
	rollingOut.Generation = 3
	noPods := dep.DeepCopy()
	noPods.Status.ReadyReplicas, noPods.Status.AvailableReplicas = 0, 0
	off := ps.DeepCopy()
	off.Spec.Canary.Enabled = false

	for _, tc := range []struct {
		name    string
		p       pass
		dep     *appsv1.Deployment
		due     bool
		after   time.Duration
		rollout string
	}{
		{"Off", pass{ps: off, deployment: dep}, dep, false, 0, "3/abc"},
		{"NoPodReady", pass{ps: ps, deployment: noPods}, noPods, false, 0, ""},
		{"NeverRan", pass{ps: ps, deployment: dep}, dep, true, 0, "3/abc"},
		{"NewRollout", pass{ps: ran(time.Second, "2/abc"), deployment: dep}, dep, true, 0, "3/abc"},
		{"SameRollout", pass{ps: ran(15*time.Second, "3/abc"), deployment: dep}, dep, false, 45 * time.Second, "3/abc"},
		{"IntervalPassed", pass{ps: ran(time.Minute, "3/abc"), deployment: dep}, dep, true, 0, "3/abc"},
		// Mid-rollout, only the interval counts, and the run proves no rollout.
		{"RollingOut", pass{ps: ran(15*time.Second, "2/abc"), deployment: rollingOut}, rollingOut, false, 45 * time.Second, ""},
		// The pass stopped before the Deployment: which rollout is current is unknown.
		{"PassStopped", pass{ps: ran(15*time.Second, "2/abc")}, dep, false, 45 * time.Second, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, after := canaryDue(&tc.p, tc.dep, now)
			require.Equal(t, tc.due, due)
			require.Equal(t, tc.after, after)
			require.Equal(t, tc.rollout, currentRollout(&tc.p, tc.dep))
		})
	}
}

// --- helpers ---

// podsUp plays the Deployment controller: every replica of the current
// template updated, ready and available.
func (b *testBundle) podsUp(t *testing.T, ps *v1alpha1.PrefectServer) {
	t.Helper()
	dep := b.waitForDeployment(t, ps, nil)
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := b.c.Get(b.ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
			return err
		}
		n := *dep.Spec.Replicas
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation,
			Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		return b.c.Status().Update(b.ctx, dep)
	}))
}

// canaryEvents are the operator's canary Events about ps.
func (b *testBundle) canaryEvents(t *testing.T, ps *v1alpha1.PrefectServer) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	require.NoError(t, b.c.List(b.ctx, &list, client.InNamespace(b.ns)))
	return slices.DeleteFunc(list.Items, func(e eventsv1.Event) bool {
		return e.Action != "Canary" || e.Regarding.Name != ps.Name || e.ReportingController != FieldOwner
	})
}

// canarySeries finds the series of the metric for one PrefectServer.
func canarySeries(t *testing.T, metric, namespace, name string) *dto.Metric {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == namespace && labels["name"] == name {
				return m
			}
		}
	}
	return nil
}

// canaryGauge is prefectgo_operator_canary_success for ps.
func canaryGauge(t *testing.T, namespace, name string) (float64, bool) {
	m := canarySeries(t, "prefectgo_operator_canary_success", namespace, name)
	if m == nil {
		return 0, false
	}
	return m.GetGauge().GetValue(), true
}

// canaryRuns is how many canaries ran: the duration histogram's count.
func canaryRuns(t *testing.T, namespace, name string) uint64 {
	m := canarySeries(t, "prefectgo_operator_canary_duration_seconds", namespace, name)
	if m == nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

type serverEvent struct {
	Event    string            `json:"event"`
	Resource map[string]string `json:"resource"`
}

// serverEvents reads the events the server kept that match filter.
func serverEvents(t *testing.T, url string, filter map[string]any) []serverEvent {
	t.Helper()
	body, err := json.Marshal(map[string]any{"filter": filter, "limit": 50})
	require.NoError(t, err)
	res, err := http.Post(url+"/events/filter", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var page struct {
		Events []serverEvent `json:"events"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
	return page.Events
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
