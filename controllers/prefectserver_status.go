package controllers

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
)

// Condition reasons the operator sets (a failed migration's Degraded reason
// is the Job's own, such as BackoffLimitExceeded; RunsHealthy's are the
// canary's, see prefectserver_canary.go).
const (
	ReasonAsExpected          = "AsExpected"
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonSecretKeyNotFound   = "SecretKeyNotFound"
	ReasonReconcileError      = "ReconcileError"
	ReasonMigrationFailed     = "MigrationFailed"
	ReasonMigrationRunning    = "MigrationRunning"
	ReasonMigrationSucceeded  = "MigrationSucceeded"
	ReasonMigratesOnStart     = "MigratesOnStart"
	ReasonRollingOut          = "RollingOut"
	ReasonRolloutComplete     = "RolloutComplete"
	ReasonDeploymentNotFound  = "DeploymentNotFound"
	ReasonReplicasReady       = "ReplicasReady"
	ReasonNoReplicasReady     = "NoReplicasReady"
	ReasonScaledToZero        = "ScaledToZero"
	ReasonSuspended           = "Suspended"
	ReasonCronJobs            = "CronJobs"
	ReasonInProcess           = "InProcess"
	ReasonWaitingForMigration = "WaitingForMigration"
	ReasonPending             = "Pending"
	ReasonRoutesApplied       = "RoutesApplied"
	ReasonGatewayAPIMissing   = "GatewayAPINotInstalled"
	ReasonMonitorsApplied     = "MonitorsApplied"
	ReasonMonitoringMissing   = "PrometheusOperatorNotInstalled"
	ReasonBackupSucceeded     = "BackupSucceeded"
	ReasonBackupFailed        = "BackupFailed"
)

// writeStatus summarises the pass into the status and writes it, once, and
// only if it changed; a transition worth a human's attention also becomes a
// Kubernetes Event.
func (r *PrefectServerReconciler) writeStatus(ctx context.Context, p *pass, stepErr error) error {
	ps := p.ps
	before := ps.DeepCopy()

	dep := p.deployment
	if dep == nil {
		var err error
		if dep, err = r.observeDeployment(ctx, ps); err != nil {
			return err
		}
	}
	st := &ps.Status
	st.ObservedGeneration = ps.Generation
	st.URL = builders.APIURL(ps)
	st.UIURL = uiURL(p)
	st.Storage = builders.StorageKind(ps)
	st.ReadyReplicas = 0
	image := ps.Spec.Image
	if image == "" {
		image = r.DefaultImage
	}
	if dep != nil {
		st.ReadyReplicas = dep.Status.ReadyReplicas
		for _, c := range dep.Spec.Template.Spec.Containers {
			if c.Name == builders.ContainerName {
				image = c.Image // what the pods run, also while a rollout is held
			}
		}
	}
	st.Version = imageVersion(image)
	if p.lastBackup != nil {
		st.LastBackup = p.lastBackup
	}
	st.Canary = canaryStatus(p) // before conditions: Ready's gate reads it
	for _, c := range conditions(p, dep, stepErr) {
		c.ObservedGeneration = ps.Generation
		meta.SetStatusCondition(&st.Conditions, c)
	}
	if ps.Spec.Ingress == nil && ps.Spec.HTTPRoute == nil {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionExposed)
	}
	if !builders.MonitoringEnabled(ps) {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionMonitoring)
	}
	if !builders.HasBackups(ps) {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionBackedUp)
	}
	if !canaryEnabled(ps) {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionRunsHealthy)
	}

	r.recordTransitions(ps, before.Status.Conditions)
	if equality.Semantic.DeepEqual(before.Status, ps.Status) {
		return nil
	}
	// Gone since the pass began: nothing left to report on.
	return client.IgnoreNotFound(r.Status().Patch(ctx, ps, client.MergeFrom(before)))
}

// uiURL is status.uiUrl: the builders' URL, except that an HTTPRoute the
// pass could not apply (no Gateway API) leads nowhere yet.
func uiURL(p *pass) string {
	ps := p.ps
	if p.gatewayAPIMissing && ps.Spec.HTTPRoute != nil {
		ps = ps.DeepCopy()
		ps.Spec.HTTPRoute = nil
	}
	return builders.UIURL(ps)
}

// observeDeployment reads the server Deployment from the cache; nil if absent.
func (r *PrefectServerReconciler) observeDeployment(ctx context.Context, ps *v1alpha1.PrefectServer) (*appsv1.Deployment, error) {
	dep := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ps.Namespace, Name: builders.DeploymentName(ps)}, dep)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get Deployment: %w", err)
	}
	return dep, nil
}

// conditions derives the conditions from what the pass saw. A condition the
// pass could not judge (it stopped before the step) is left out, so the
// previous value stands, unless there is none yet.
func conditions(p *pass, dep *appsv1.Deployment, stepErr error) []metav1.Condition {
	c := func(t string, s metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		return metav1.Condition{Type: t, Status: s, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	ns := p.ps.Namespace
	var out []metav1.Condition

	// Degraded: something needs a human.
	mig, failed := migrationStatus(p.migration)
	switch {
	case p.missingKey != "":
		out = append(out, c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonSecretKeyNotFound,
			"Secret %s/%s has no key %q; nothing was changed", ns, p.missingSecret, p.missingKey))
	case p.missingSecret != "":
		out = append(out, c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonSecretNotFound,
			"Secret %s/%s is referenced but does not exist; nothing was changed", ns, p.missingSecret))
	case mig == migrationFailed:
		out = append(out, c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, conditionReason(failed.Reason, ReasonMigrationFailed),
			"migration Job %s failed: %s; the Deployment keeps its previous template (delete the Job to retry)",
			p.migration.Name, jobFailureText(failed)))
	case stepErr != nil:
		out = append(out, c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonReconcileError, "%s", stepErr.Error()))
	case p.gatewayAPIMissing:
		out = append(out, c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonGatewayAPIMissing, "%s", gatewayAPIMissingText))
	case len(p.monitoringMissing) > 0:
		out = append(out, c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonMonitoringMissing, "%s",
			monitoringMissingText(p.monitoringMissing)))
	default:
		out = append(out, c(v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected, ""))
	}

	// DatabaseMigrated: the schema matches what the pods are about to run.
	switch {
	case p.ps.Spec.Storage.Postgres == nil:
		out = append(out, c(v1alpha1.ConditionDatabaseMigrated, metav1.ConditionTrue, ReasonMigratesOnStart,
			"SQLite: the server migrates its database when it starts"))
	case mig == migrationFailed:
		out = append(out, c(v1alpha1.ConditionDatabaseMigrated, metav1.ConditionFalse, ReasonMigrationFailed,
			"migration Job %s failed: %s", p.migration.Name, jobFailureText(failed)))
	case mig == migrationSucceeded:
		out = append(out, c(v1alpha1.ConditionDatabaseMigrated, metav1.ConditionTrue, ReasonMigrationSucceeded,
			"migration Job %s completed", p.migration.Name))
	case mig == migrationRunning:
		out = append(out, c(v1alpha1.ConditionDatabaseMigrated, metav1.ConditionFalse, ReasonMigrationRunning,
			"migration Job %s is running", p.migration.Name))
	case meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionDatabaseMigrated) == nil:
		out = append(out, c(v1alpha1.ConditionDatabaseMigrated, metav1.ConditionUnknown, ReasonPending,
			"the migration Job has not been created yet"))
	}

	// Progressing: a migration or a rollout is under way.
	switch {
	case p.missingKey != "":
		out = append(out, c(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonSecretKeyNotFound,
			"waiting for key %q in Secret %s/%s", p.missingKey, ns, p.missingSecret))
	case p.missingSecret != "":
		out = append(out, c(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonSecretNotFound,
			"waiting for Secret %s/%s", ns, p.missingSecret))
	case mig == migrationFailed:
		out = append(out, c(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonMigrationFailed,
			"the rollout waits for a successful migration"))
	case mig == migrationRunning:
		out = append(out, c(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonMigrationRunning,
			"migration Job %s is running; the rollout follows", p.migration.Name))
	case dep == nil:
		out = append(out, c(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonDeploymentNotFound,
			"the Deployment is being created"))
	case !rolledOut(dep):
		out = append(out, c(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut,
			"%d of %d replicas updated, %d available", dep.Status.UpdatedReplicas, desiredReplicas(dep), dep.Status.AvailableReplicas))
	default:
		out = append(out, c(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutComplete,
			"%d of %d replicas updated and available", dep.Status.UpdatedReplicas, desiredReplicas(dep)))
	}

	// RunsHealthy: the last canary's result (absent with the canary off).
	runs := runsHealthy(p)
	if runs != nil {
		out = append(out, *runs)
	}

	// Ready: the API answers on its Service and, with the canary on, a
	// canary passed on the current rollout.
	var ready metav1.Condition
	switch {
	case dep == nil:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDeploymentNotFound, "the server Deployment does not exist yet")
	case builders.Suspended(p.ps):
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonSuspended,
			"spec.suspend: the server is scaled to zero and its CronJobs are suspended; its data and Services are kept")
	case desiredReplicas(dep) == 0:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonScaledToZero, "replicas is 0")
	case dep.Status.ReadyReplicas > 0:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReplicasReady,
			"%d of %d replicas ready", dep.Status.ReadyReplicas, desiredReplicas(dep))
	default:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoReplicasReady,
			"0 of %d replicas ready", desiredReplicas(dep))
	}
	if gated := gateReady(p, dep, ready, runs); gated != nil {
		out = append(out, *gated)
	}

	// Exposed: the Ingress and HTTPRoute the spec asks for (writeStatus
	// drops the condition when it asks for neither).
	switch {
	case p.ps.Spec.Ingress == nil && p.ps.Spec.HTTPRoute == nil:
	case p.gatewayAPIMissing:
		out = append(out, c(v1alpha1.ConditionExposed, metav1.ConditionFalse, ReasonGatewayAPIMissing, "%s", gatewayAPIMissingText))
	case p.exposureDone:
		out = append(out, c(v1alpha1.ConditionExposed, metav1.ConditionTrue, ReasonRoutesApplied,
			"%s route the UI (%s) and the API to Service %s", strings.Join(p.exposedBy, " and "),
			builders.UIURL(p.ps), builders.ServiceName(p.ps)))
	case meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionExposed) == nil:
		out = append(out, c(v1alpha1.ConditionExposed, metav1.ConditionUnknown, ReasonPending,
			"the Ingress and HTTPRoute are applied after the Service"))
	}

	// Monitoring: the ServiceMonitor or PodMonitor and the PrometheusRule
	// (writeStatus drops the condition when monitoring is not enabled).
	switch {
	case !builders.MonitoringEnabled(p.ps):
	case len(p.monitoringMissing) > 0:
		out = append(out, c(v1alpha1.ConditionMonitoring, metav1.ConditionFalse, ReasonMonitoringMissing, "%s",
			monitoringMissingText(p.monitoringMissing)))
	case p.monitoringDone:
		out = append(out, c(v1alpha1.ConditionMonitoring, metav1.ConditionTrue, ReasonMonitorsApplied,
			"%s applied: Prometheus scrapes %s on the server's %s port", strings.Join(p.monitoredBy, " and "),
			builders.MetricsPath, builders.PortName))
	case meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionMonitoring) == nil:
		out = append(out, c(v1alpha1.ConditionMonitoring, metav1.ConditionUnknown, ReasonPending,
			"the ServiceMonitor or PodMonitor and the PrometheusRule are applied after the Service"))
	}

	// BackedUp: how the latest backup Job ended (writeStatus drops it
	// without spec.backup). The report a Job left is in status.lastBackup.
	last := p.ps.Status.LastBackup
	switch {
	case !builders.HasBackups(p.ps):
	case p.failedBackup != nil:
		failed, _ := jobFinished(p.failedBackup, batchv1.JobFailed)
		lastGood := "no backup has succeeded yet"
		if last != nil {
			lastGood = "the latest good backup is " + backupText(last)
		}
		out = append(out, c(v1alpha1.ConditionBackedUp, metav1.ConditionFalse, ReasonBackupFailed,
			"backup Job %s failed: %s; %s", p.failedBackup.Name, jobFailureText(failed), lastGood))
	case p.backupReportProblem != "":
		out = append(out, c(v1alpha1.ConditionBackedUp, metav1.ConditionTrue, ReasonBackupSucceeded,
			"the latest backup Job succeeded, but its report cannot be read: %s", p.backupReportProblem))
	case p.backupsObserved && last != nil:
		out = append(out, c(v1alpha1.ConditionBackedUp, metav1.ConditionTrue, ReasonBackupSucceeded, "%s", backupText(last)))
	case p.backupsObserved || meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionBackedUp) == nil:
		out = append(out, c(v1alpha1.ConditionBackedUp, metav1.ConditionUnknown, ReasonPending,
			"no backup Job of CronJob %s has finished yet", builders.BackupCronJobName(p.ps)))
	}

	// BackgroundJobs: where retention and scheduling run.
	switch {
	case p.ps.Spec.Storage.Ephemeral != nil:
		out = append(out, c(v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, ReasonInProcess,
			"ephemeral storage: the server's in-process services run retention and scheduling"))
	case p.cronJobsDone:
		out = append(out, c(v1alpha1.ConditionBackgroundJobs, metav1.ConditionTrue, ReasonCronJobs,
			"CronJobs %s run retention and scheduling", strings.Join(p.cronJobs, ", ")))
	case meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionBackgroundJobs) == nil:
		reason := ReasonPending
		if p.migration != nil {
			reason = ReasonWaitingForMigration
		}
		out = append(out, c(v1alpha1.ConditionBackgroundJobs, metav1.ConditionFalse, reason,
			"the CronJobs are applied with the Deployment"))
	}
	return out
}

// gatewayAPIMissingText says why spec.httpRoute has no HTTPRoute.
const gatewayAPIMissingText = "spec.httpRoute asks for an HTTPRoute, but the cluster does not serve " +
	"gateway.networking.k8s.io/v1 HTTPRoutes: install the Gateway API's CRDs (the operator looks again " +
	"every few minutes), or remove spec.httpRoute; everything else is reconciled"

// recordTransitions emits an Event for each transition worth a human's
// attention. Events follow the conditions, so a steady state emits none.
func (r *PrefectServerReconciler) recordTransitions(ps *v1alpha1.PrefectServer, old []metav1.Condition) {
	if r.Recorder == nil {
		return
	}
	entered := func(t string, s metav1.ConditionStatus, reason string) (*metav1.Condition, bool) {
		now := meta.FindStatusCondition(ps.Status.Conditions, t)
		if now == nil || now.Status != s || now.Reason != reason {
			return nil, false
		}
		was := meta.FindStatusCondition(old, t)
		return now, was == nil || was.Status != s || was.Reason != reason
	}
	for _, reason := range []string{ReasonSecretNotFound, ReasonSecretKeyNotFound} {
		if c, ok := entered(v1alpha1.ConditionDegraded, metav1.ConditionTrue, reason); ok {
			r.Recorder.Eventf(ps, nil, corev1.EventTypeWarning, reason, "LoadSecrets", "%s", c.Message)
		}
	}
	if c, ok := entered(v1alpha1.ConditionExposed, metav1.ConditionFalse, ReasonGatewayAPIMissing); ok {
		r.Recorder.Eventf(ps, nil, corev1.EventTypeWarning, ReasonGatewayAPIMissing, "Expose", "%s", c.Message)
	}
	if c, ok := entered(v1alpha1.ConditionMonitoring, metav1.ConditionFalse, ReasonMonitoringMissing); ok {
		r.Recorder.Eventf(ps, nil, corev1.EventTypeWarning, ReasonMonitoringMissing, "Monitor", "%s", c.Message)
	}
	// Each failed backup Job is worth a warning, not only the first of a run.
	if c, ok := entered(v1alpha1.ConditionBackedUp, metav1.ConditionFalse, ReasonBackupFailed); ok ||
		(c != nil && c.Message != meta.FindStatusCondition(old, v1alpha1.ConditionBackedUp).Message) {
		r.Recorder.Eventf(ps, nil, corev1.EventTypeWarning, ReasonBackupFailed, "Backup", "%s", c.Message)
	}
	if c, ok := entered(v1alpha1.ConditionDatabaseMigrated, metav1.ConditionFalse, ReasonMigrationFailed); ok {
		r.Recorder.Eventf(ps, nil, corev1.EventTypeWarning, ReasonMigrationFailed, "Migrate", "%s", c.Message)
	}
	if c, ok := entered(v1alpha1.ConditionDatabaseMigrated, metav1.ConditionTrue, ReasonMigrationSucceeded); ok {
		r.Recorder.Eventf(ps, nil, corev1.EventTypeNormal, ReasonMigrationSucceeded, "Migrate", "%s", c.Message)
	}
	// The canary: when it starts failing (or fails at another step), and
	// when it passes again; not on every run, nor on the first pass.
	if now := meta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionRunsHealthy); now != nil {
		was := meta.FindStatusCondition(old, v1alpha1.ConditionRunsHealthy)
		switch {
		case now.Status == metav1.ConditionFalse && (was == nil || was.Status != now.Status || was.Reason != now.Reason):
			r.Recorder.Eventf(ps, nil, corev1.EventTypeWarning, now.Reason, "Canary", "%s", now.Message)
		case now.Status == metav1.ConditionTrue && was != nil && was.Status == metav1.ConditionFalse:
			r.Recorder.Eventf(ps, nil, corev1.EventTypeNormal, now.Reason, "Canary", "%s", now.Message)
		}
	}
}

// migrationState is where the current migration Job is.
type migrationState int

const (
	migrationNone migrationState = iota // no Job: not PostgreSQL, or not reached
	migrationRunning
	migrationFailed
	migrationSucceeded
)

// migrationStatus reads a migration Job's state, and its failure condition.
func migrationStatus(job *batchv1.Job) (migrationState, batchv1.JobCondition) {
	if job == nil {
		return migrationNone, batchv1.JobCondition{}
	}
	if c, ok := jobFinished(job, batchv1.JobFailed); ok {
		return migrationFailed, c
	}
	if _, ok := jobFinished(job, batchv1.JobComplete); ok {
		return migrationSucceeded, batchv1.JobCondition{}
	}
	return migrationRunning, batchv1.JobCondition{}
}

// rolledOut reports whether the Deployment controller has caught up with the
// latest template and every desired replica is updated and available.
func rolledOut(dep *appsv1.Deployment) bool {
	want := desiredReplicas(dep)
	s := dep.Status
	return s.ObservedGeneration >= dep.Generation &&
		s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
}

func desiredReplicas(dep *appsv1.Deployment) int32 { return ptr.Deref(dep.Spec.Replicas, 1) }

// imageVersion is the tag of an image reference ("latest" when it has none,
// "" when it is pinned by digest only).
func imageVersion(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
		if !strings.Contains(image[strings.LastIndex(image, "/")+1:], ":") {
			return ""
		}
	}
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return name[i+1:]
	}
	if image == "" {
		return ""
	}
	return "latest"
}

// reasonPattern is what the API server accepts as a condition reason.
var reasonPattern = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

// conditionReason returns reason if the API server accepts it, else fallback.
func conditionReason(reason, fallback string) string {
	if len(reason) <= 1024 && reasonPattern.MatchString(reason) {
		return reason
	}
	return fallback
}

// jobFailureText is a failed Job condition as one line.
func jobFailureText(c batchv1.JobCondition) string {
	switch {
	case c.Reason != "" && c.Message != "":
		return c.Reason + ": " + c.Message
	case c.Message != "":
		return c.Message
	case c.Reason != "":
		return c.Reason
	}
	return "no reason given"
}
