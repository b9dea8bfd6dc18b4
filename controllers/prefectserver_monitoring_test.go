package controllers

import (
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/opmetrics"
)

// monitoringCRDs are stand-ins for the prometheus-operator's CRDs.
var monitoringCRDs = filepath.Join("testdata", "monitoring-crds")

// installMonitoringCRDs installs the stand-in CRDs (again, if they are there).
func installMonitoringCRDs(t *testing.T, b *testBundle) {
	t.Helper()
	_, err := envtest.InstallCRDs(b.env.cfg, envtest.CRDInstallOptions{Paths: []string{monitoringCRDs}})
	require.NoError(t, err)
}

func withMonitoring(m *v1alpha1.MonitoringSpec) func(*v1alpha1.PrefectServer) {
	return func(ps *v1alpha1.PrefectServer) { ps.Spec.Monitoring = m }
}

// TestMonitoringInstalledLater runs alone (it is not parallel), on a control
// plane without the prometheus-operator's CRDs: a PrefectServer asking for
// monitoring gets its metrics turned on and everything else, a condition and
// an Event saying why it has no ServiceMonitor, and no error loop; once the
// stand-in CRDs are installed, the ServiceMonitor and the PrometheusRule
// follow within MissingAPIRetry. When the CRDs are there already (an earlier
// -count run in this process), only that second half runs.
func TestMonitoringInstalledLater(t *testing.T) {
	b := setup(t)
	ps := b.create(t, "prefect", withMonitoring(&v1alpha1.MonitoringSpec{Enabled: true}))

	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	err := b.c.Get(b.ctx, client.ObjectKey{Name: "servicemonitors.monitoring.coreos.com"}, crd)
	if apierrors.IsNotFound(err) {
		got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionMonitoring, metav1.ConditionFalse, ReasonMonitoringMissing)
		msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionMonitoring).Message
		require.Contains(t, msg, "ServiceMonitor and PrometheusRule")
		require.Contains(t, msg, "install the prometheus-operator's CRDs")
		requireCondition(t, got, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonMonitoringMissing)
		b.waitForEvent(t, ps, ReasonMonitoringMissing)
		// Everything else is there, the metrics on.
		b.waitFor(t, builders.ServiceName(ps), &corev1.Service{})
		b.waitFor(t, builders.SchedulerCronJobName(ps), &batchv1.CronJob{})
		dep := b.waitForDeployment(t, ps, nil)
		require.Equal(t, "true", envValue(dep, settingEnv(t, "metrics_enabled")))
		b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, ReasonCronJobs)
		// A look every MissingAPIRetry (1s here), not an error's backoff.
		before := b.env.calls.count(b.ns)
		time.Sleep(3 * time.Second)
		require.LessOrEqual(t, b.env.calls.count(b.ns)-before, 6, "the reconciler loops while the CRDs are missing")

		installMonitoringCRDs(t, b)
	} else {
		require.NoError(t, err)
	}

	b.waitFor(t, builders.MonitorName(ps), &monitoringv1.ServiceMonitor{})
	b.waitFor(t, builders.PrometheusRuleName(ps), &monitoringv1.PrometheusRule{})
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionMonitoring, metav1.ConditionTrue, ReasonMonitorsApplied)
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionMonitoring).Message,
		"ServiceMonitor prefect and PrometheusRule prefect applied")
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)
}

// TestServiceMonitor: the ServiceMonitor selects the server's Service on
// its port and metrics path, carries spec.monitoring's labels and interval,
// has its drift undone, comes back when deleted, and goes when monitoring is
// disabled, with the PrometheusRule and the condition.
func TestServiceMonitor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	installMonitoringCRDs(t, b)
	ps := b.create(t, "prefect", withMonitoring(&v1alpha1.MonitoringSpec{
		Enabled: true, Interval: "15s", Labels: map[string]string{"release": "kube-prometheus-stack"},
	}))

	sm := b.waitForServiceMonitor(t, ps, nil)
	require.True(t, metav1.IsControlledBy(sm, ps), "owned, so it goes with the PrefectServer")
	require.Equal(t, "kube-prometheus-stack", sm.Labels["release"])
	svc := b.waitFor(t, builders.ServiceName(ps), &corev1.Service{}).(*corev1.Service)
	selector, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	require.NoError(t, err)
	require.True(t, selector.Matches(labels.Set(svc.Labels)), "the ServiceMonitor does not select the Service")
	require.Equal(t, []string{b.ns}, sm.Spec.NamespaceSelector.MatchNames)
	require.Len(t, sm.Spec.Endpoints, 1)
	ep := sm.Spec.Endpoints[0]
	require.Equal(t, svc.Spec.Ports[0].Name, ep.Port, "the Service's port, by name")
	require.Equal(t, "/api/metrics", ep.Path)
	require.Equal(t, monitoringv1.Duration("15s"), ep.Interval)
	require.True(t, ep.HonorLabels)
	dep := b.waitForDeployment(t, ps, nil)
	require.Equal(t, "true", envValue(dep, settingEnv(t, "metrics_enabled")), "the server serves what is scraped")
	b.requireAbsent(t, builders.MonitorName(ps), &monitoringv1.PodMonitor{})

	// A hand edit is undone; a deletion, too.
	sm.Spec.Endpoints[0].Path = "/elsewhere"
	require.NoError(t, b.c.Update(b.ctx, sm))
	b.waitForServiceMonitor(t, ps, func(sm *monitoringv1.ServiceMonitor) bool { return sm.Spec.Endpoints[0].Path == "/api/metrics" })
	uid := sm.UID
	require.NoError(t, b.c.Delete(b.ctx, sm))
	b.waitForServiceMonitor(t, ps, func(sm *monitoringv1.ServiceMonitor) bool { return sm.UID != uid })

	// The interval follows the spec.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Monitoring.Interval = "1m" })
	b.waitForServiceMonitor(t, ps, func(sm *monitoringv1.ServiceMonitor) bool { return sm.Spec.Endpoints[0].Interval == "1m" })

	// Disabled: all of it goes, and the metrics follow metricsEnabled again.
	b.waitFor(t, builders.PrometheusRuleName(ps), &monitoringv1.PrometheusRule{})
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionMonitoring, metav1.ConditionTrue, ReasonMonitorsApplied)
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Monitoring.Enabled = false })
	b.waitForAbsent(t, builders.MonitorName(ps), &monitoringv1.ServiceMonitor{})
	b.waitForAbsent(t, builders.PrometheusRuleName(ps), &monitoringv1.PrometheusRule{})
	require.Eventually(t, func() bool {
		return meta.FindStatusCondition(b.server(t, ps.Name).Status.Conditions, v1alpha1.ConditionMonitoring) == nil
	}, wait, tick, "the Monitoring condition outlived monitoring")
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool { return envValue(d, settingEnv(t, "metrics_enabled")) == "false" })
}

// TestPodMonitor: podMonitor swaps the ServiceMonitor for a PodMonitor that
// selects the server's pods on their port and metrics path, and back.
func TestPodMonitor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	installMonitoringCRDs(t, b)
	ps := b.create(t, "prefect", withMonitoring(&v1alpha1.MonitoringSpec{Enabled: true}))
	b.waitForServiceMonitor(t, ps, nil)

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Monitoring.PodMonitor = true })
	pm := &monitoringv1.PodMonitor{}
	b.waitFor(t, builders.MonitorName(ps), pm)
	b.waitForAbsent(t, builders.MonitorName(ps), &monitoringv1.ServiceMonitor{})
	require.True(t, metav1.IsControlledBy(pm, ps))
	dep := b.waitForDeployment(t, ps, nil)
	selector, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	require.NoError(t, err)
	require.True(t, selector.Matches(labels.Set(dep.Spec.Template.Labels)), "the PodMonitor does not select the server pods")
	require.Len(t, pm.Spec.PodMetricsEndpoints, 1)
	ep := pm.Spec.PodMetricsEndpoints[0]
	require.NotNil(t, ep.Port)
	require.Equal(t, dep.Spec.Template.Spec.Containers[0].Ports[0].Name, *ep.Port, "the container's API port, by name")
	require.Equal(t, "/api/metrics", ep.Path)
	b.waitForMonitoringMessage(t, ps.Name, func(msg string) bool {
		return strings.HasPrefix(msg, "PodMonitor prefect and PrometheusRule prefect applied")
	})

	// A deleted PodMonitor comes back: it is watched too.
	uid := pm.UID
	require.NoError(t, b.c.Delete(b.ctx, pm))
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.MonitorName(ps)}, pm)
		return err == nil && pm.UID != uid
	}, wait, tick, "the PodMonitor did not come back")

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Monitoring.PodMonitor = false })
	b.waitForServiceMonitor(t, ps, nil)
	b.waitForAbsent(t, builders.MonitorName(ps), &monitoringv1.PodMonitor{})
}

// TestPrometheusRule: the rule holds every alert of the builders, each with
// a runbook URL, is restored when edited, and goes with alerts.enabled=false
// while the scrape stays.
func TestPrometheusRule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	installMonitoringCRDs(t, b)
	ps := b.create(t, "prefect", withMonitoring(&v1alpha1.MonitoringSpec{
		Enabled: true, Alerts: v1alpha1.MonitoringAlerts{LateRunsAfter: "30m"},
	}))

	rule := b.waitForRule(t, ps, nil)
	require.True(t, metav1.IsControlledBy(rule, ps))
	require.Len(t, rule.Spec.Groups, 1)
	alerts := map[string]monitoringv1.Rule{}
	for _, r := range rule.Spec.Groups[0].Rules {
		alerts[r.Alert] = r
		require.Equal(t, builders.DefaultRunbookBaseURL+builders.RunbookPage(r.Alert), r.Annotations["runbook_url"], r.Alert)
	}
	for _, name := range []string{"PrefectServerDown", "PrefectRunsLate", "PrefectEventPersisterBacklogGrowing",
		"PrefectSchedulerNotRunning", "PrefectMigrationFailed", "PrefectCanaryFailing"} {
		require.Contains(t, alerts, name)
	}
	require.Contains(t, alerts["PrefectRunsLate"].Expr.StrVal, "> 1800", "alerts.lateRunsAfter is 30m")
	require.Contains(t, alerts["PrefectSchedulerNotRunning"].Expr.StrVal, "prefectgo_operator_scheduler_last_success_timestamp_seconds",
		"SQLite: the scheduling CronJob's last success")

	// A hand edit is undone.
	rule.Spec.Groups[0].Rules = rule.Spec.Groups[0].Rules[:1]
	require.NoError(t, b.c.Update(b.ctx, rule))
	b.waitForRule(t, ps, func(r *monitoringv1.PrometheusRule) bool { return len(r.Spec.Groups[0].Rules) == len(alerts) })

	// The scheduling CronJob suspended: no scheduler alert.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Scheduling.Suspend = true })
	b.waitForRule(t, ps, func(r *monitoringv1.PrometheusRule) bool { return len(r.Spec.Groups[0].Rules) == len(alerts)-1 })

	// Alerts off: the rule goes, the ServiceMonitor stays.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Monitoring.Alerts.Enabled = new(false) })
	b.waitForAbsent(t, builders.PrometheusRuleName(ps), &monitoringv1.PrometheusRule{})
	b.waitForServiceMonitor(t, ps, nil)
	b.waitForMonitoringMessage(t, ps.Name, func(msg string) bool { return strings.HasPrefix(msg, "ServiceMonitor prefect applied") })
}

// TestOperatorMetrics: the operator's gauges of a PrefectServer follow its
// status (ready, replicas, migration, the scheduling CronJob's last
// success) and are deleted with it.
func TestOperatorMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", nil)
	key := map[string]string{"namespace": b.ns, "name": ps.Name}

	b.waitForCondition(t, ps.Name, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicasReady)
	b.waitForGauge(t, "prefectgo_operator_server_ready", key, 0)
	b.waitForGauge(t, "prefectgo_operator_server_desired_replicas", key, 1)
	b.waitForGauge(t, "prefectgo_operator_server_ready_replicas", key, 0)
	b.waitForGauge(t, "prefectgo_operator_server_migration_state", withLabel(key, "state", opmetrics.MigrationOnStart), 1)
	b.waitForGauge(t, "prefectgo_operator_server_migration_state", withLabel(key, "state", opmetrics.MigrationFailed), 0)
	cj := b.waitFor(t, builders.SchedulerCronJobName(ps), &batchv1.CronJob{}).(*batchv1.CronJob)
	b.waitForGauge(t, "prefectgo_operator_scheduler_last_success_timestamp_seconds", key, float64(cj.CreationTimestamp.Unix()))

	// The pods come up, and the scheduling CronJob succeeds.
	dep := b.waitForDeployment(t, ps, nil)
	dep.Status = appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
	}
	require.NoError(t, b.c.Status().Update(b.ctx, dep))
	b.waitForGauge(t, "prefectgo_operator_server_ready", key, 1)
	b.waitForGauge(t, "prefectgo_operator_server_ready_replicas", key, 1)
	success := metav1.NewTime(time.Unix(cj.CreationTimestamp.Unix()+90, 0))
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := b.c.Get(b.ctx, client.ObjectKeyFromObject(cj), cj); err != nil {
			return err
		}
		cj.Status.LastScheduleTime, cj.Status.LastSuccessfulTime = &success, &success
		return b.c.Status().Update(b.ctx, cj)
	}))
	b.waitForGauge(t, "prefectgo_operator_scheduler_last_success_timestamp_seconds", key, float64(success.Unix()))

	// Suspended: nothing desired.
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Suspend = new(true) })
	b.waitForGauge(t, "prefectgo_operator_server_desired_replicas", key, 0)

	// Deleted: every series goes.
	require.NoError(t, b.c.Delete(b.ctx, ps))
	require.Eventually(t, func() bool { return len(operatorSeries(t, b.ns)) == 0 }, wait, tick,
		"the deleted PrefectServer's series stay")
}

// TestOperatorMetricsMigrationFailed: a failed PostgreSQL migration shows as
// the failed state, which PrefectMigrationFailed alerts on.
func TestOperatorMetricsMigrationFailed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Storage = v1alpha1.Storage{Postgres: &v1alpha1.PostgresStorage{Host: "db", User: "prefect"}}
	})
	key := map[string]string{"namespace": b.ns, "name": ps.Name}
	job := b.waitForMigrationJob(t, ps)
	b.waitForGauge(t, "prefectgo_operator_server_migration_state", withLabel(key, "state", opmetrics.MigrationRunning), 1)
	b.failJob(t, job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	b.waitForGauge(t, "prefectgo_operator_server_migration_state", withLabel(key, "state", opmetrics.MigrationFailed), 1)
	b.waitForGauge(t, "prefectgo_operator_server_migration_state", withLabel(key, "state", opmetrics.MigrationRunning), 0)
}

// waitForServiceMonitor polls until the ServiceMonitor of ps exists and satisfies ok.
func (b *testBundle) waitForServiceMonitor(t *testing.T, ps *v1alpha1.PrefectServer, ok func(*monitoringv1.ServiceMonitor) bool) *monitoringv1.ServiceMonitor {
	t.Helper()
	sm := &monitoringv1.ServiceMonitor{}
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.MonitorName(ps)}, sm)
		return err == nil && (ok == nil || ok(sm))
	}, wait, tick, "the ServiceMonitor never got there")
	return sm
}

// waitForMonitoringMessage polls until the Monitoring condition is True
// for the current generation with a message that satisfies ok.
func (b *testBundle) waitForMonitoringMessage(t *testing.T, name string, ok func(string) bool) {
	t.Helper()
	var last *metav1.Condition
	require.Eventually(t, func() bool {
		ps := b.server(t, name)
		last = meta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionMonitoring)
		return last != nil && last.Status == metav1.ConditionTrue && last.ObservedGeneration == ps.Generation && ok(last.Message)
	}, wait, tick, "the Monitoring condition never said so (last: %+v)", last)
}

// waitForRule polls until the PrometheusRule of ps exists and satisfies ok.
func (b *testBundle) waitForRule(t *testing.T, ps *v1alpha1.PrefectServer, ok func(*monitoringv1.PrometheusRule) bool) *monitoringv1.PrometheusRule {
	t.Helper()
	rule := &monitoringv1.PrometheusRule{}
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.PrometheusRuleName(ps)}, rule)
		return err == nil && (ok == nil || ok(rule))
	}, wait, tick, "the PrometheusRule never got there")
	return rule
}

// waitForGauge polls controller-runtime's registry, which the manager
// serves, until the operator's gauge with exactly these labels has value.
func (b *testBundle) waitForGauge(t *testing.T, name string, labels map[string]string, value float64) {
	t.Helper()
	var last []string
	require.Eventually(t, func() bool {
		last = nil
		for _, s := range operatorSeries(t, b.ns) {
			if s.name == name && maps.Equal(s.labels, labels) {
				if s.value == value {
					return true
				}
				last = append(last, s.String())
			}
		}
		return false
	}, wait, tick, "%s%v never was %v (last: %v)", name, labels, value, last)
}

type series struct {
	name   string
	labels map[string]string
	value  float64
}

func (s series) String() string { return fmt.Sprintf("%s%v %v", s.name, s.labels, s.value) }

// operatorSeries are the operator's series (opmetrics) of the namespace.
func operatorSeries(t *testing.T, namespace string) []series {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	var out []series
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "prefectgo_operator_") {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := labelMap(m.GetLabel())
			if labels["namespace"] == namespace {
				out = append(out, series{f.GetName(), labels, m.GetGauge().GetValue()})
			}
		}
	}
	return out
}

// withLabel is labels and one more.
func withLabel(labels map[string]string, name, value string) map[string]string {
	out := maps.Clone(labels)
	out[name] = value
	return out
}

func labelMap(pairs []*dto.LabelPair) map[string]string {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p.GetName()] = p.GetValue()
	}
	return m
}
