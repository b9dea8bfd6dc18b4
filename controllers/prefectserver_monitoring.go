package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/opmetrics"
)

// monitoringKinds are the prometheus-operator's kinds, each watched from
// the first time the cluster is found to serve it.
type monitoringKinds struct {
	serviceMonitors, podMonitors, rules *optionalKind
}

// reconcileMonitoring applies the ServiceMonitor or PodMonitor and the
// PrometheusRule that spec.monitoring asks for, and deletes those it no
// longer asks for. A cluster without the prometheus-operator's CRDs is not
// an error: what it serves is applied, the status names what is missing, and
// Reconcile looks again later.
func (r *PrefectServerReconciler) reconcileMonitoring(ctx context.Context, p *pass) (bool, error) {
	ps := p.ps
	// Each wanted object as an interface value that is nil when not wanted.
	var sm, pm, rule client.Object
	if o := builders.ServiceMonitor(ps); o != nil {
		sm = o
	}
	if o := builders.PodMonitor(ps); o != nil {
		pm = o
	}
	if o := builders.PrometheusRule(ps); o != nil {
		rule = o
	}
	children := []struct {
		kind  string
		k     *optionalKind
		want  client.Object // nil: delete ours of this kind and name
		empty client.Object
		name  string
	}{
		{monitoringv1.ServiceMonitorsKind, r.monitoring.serviceMonitors, sm, &monitoringv1.ServiceMonitor{}, builders.MonitorName(ps)},
		{monitoringv1.PodMonitorsKind, r.monitoring.podMonitors, pm, &monitoringv1.PodMonitor{}, builders.MonitorName(ps)},
		{monitoringv1.PrometheusRuleKind, r.monitoring.rules, rule, &monitoringv1.PrometheusRule{}, builders.PrometheusRuleName(ps)},
	}
	for _, c := range children {
		if c.want == nil {
			if err := r.deleteOptional(ctx, ps, c.k, c.empty, c.name); err != nil {
				return false, err
			}
			continue
		}
		missing, err := r.applyOptional(ctx, ps, c.k, c.want)
		switch {
		case err != nil:
			return false, err
		case missing:
			p.monitoringMissing = append(p.monitoringMissing, c.kind)
		default:
			p.monitoredBy = append(p.monitoredBy, c.kind+" "+c.name)
		}
	}
	p.monitoringDone = true
	return true, nil
}

// monitoringMissingText says why spec.monitoring has no objects of kinds.
func monitoringMissingText(kinds []string) string {
	return "spec.monitoring asks for " + strings.Join(kinds, " and ") + ", but the cluster does not serve " +
		"monitoring.coreos.com/v1 " + strings.Join(kinds, ", ") + ": install the prometheus-operator's CRDs " +
		"(the operator looks again every few minutes), or disable spec.monitoring; everything else is reconciled"
}

// recordMetrics sets the operator's gauges of ps from the status the pass
// wrote; a PrefectServer gone or going has its series deleted.
func (r *PrefectServerReconciler) recordMetrics(ctx context.Context, ps *v1alpha1.PrefectServer) error {
	if ps == nil || !ps.DeletionTimestamp.IsZero() {
		return nil
	}
	s := opmetrics.Server{
		Ready:           meta.IsStatusConditionTrue(ps.Status.Conditions, v1alpha1.ConditionReady),
		DesiredReplicas: builders.Replicas(ps),
		ReadyReplicas:   ps.Status.ReadyReplicas,
		Migration:       migrationMetric(meta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionDatabaseMigrated)),
	}
	cj := &batchv1.CronJob{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ps.Namespace, Name: builders.SchedulerCronJobName(ps)}, cj)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get CronJob %s: %w", builders.SchedulerCronJobName(ps), err)
	case metav1.IsControlledBy(cj, ps):
		s.SchedulerLastSuccess = schedulerLastSuccess(cj)
	}
	opmetrics.Record(ps.Namespace, ps.Name, s)
	return nil
}

// schedulerLastSuccess is when the scheduling CronJob last succeeded, or,
// before its first success, when it was created: an alert on the time since
// then also fires for a CronJob that never succeeds.
func schedulerLastSuccess(cj *batchv1.CronJob) time.Time {
	if t := cj.Status.LastSuccessfulTime; t != nil {
		return t.Time
	}
	return cj.CreationTimestamp.Time
}

// migrationMetric is the migration state label for a DatabaseMigrated
// condition; empty when there is none yet.
func migrationMetric(c *metav1.Condition) string {
	if c == nil {
		return ""
	}
	switch c.Reason {
	case ReasonMigratesOnStart:
		return opmetrics.MigrationOnStart
	case ReasonMigrationRunning:
		return opmetrics.MigrationRunning
	case ReasonMigrationSucceeded:
		return opmetrics.MigrationSucceeded
	case ReasonMigrationFailed:
		return opmetrics.MigrationFailed
	default:
		return opmetrics.MigrationPending
	}
}
