package controllers

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
)

// pass is what one reconcile saw and did, handed from step to step and
// summarised into the status at the end.
type pass struct {
	ps     *v1alpha1.PrefectServer
	inputs builders.Inputs

	// missingSecret names a referenced Secret that does not exist, or, with
	// missingKey, one that lacks a key; the pass stopped before touching any
	// child.
	missingSecret, missingKey string
	// migration is the PostgreSQL migration Job of the current configuration
	// hash, as last seen; nil for other storage or when the step was not reached.
	migration *batchv1.Job
	// deployment is the server Deployment as applied; nil when the step was
	// not reached (status then reads it from the cache).
	deployment *appsv1.Deployment
	// cronJobs names the CronJobs applied; cronJobsDone says the step ran.
	cronJobs     []string
	cronJobsDone bool
	// exposedBy names the Ingress and HTTPRoute applied; exposureDone says
	// the step ran; gatewayAPIMissing, that it could not apply the
	// HTTPRoute the spec asks for, the cluster serving no HTTPRoutes.
	exposedBy         []string
	exposureDone      bool
	gatewayAPIMissing bool
	// monitoredBy names the ServiceMonitor, PodMonitor and PrometheusRule
	// applied; monitoringDone says the step ran; monitoringMissing, the
	// kinds it could not apply, the cluster not serving them.
	monitoredBy       []string
	monitoringDone    bool
	monitoringMissing []string
	// backupsObserved says the backups step ran; lastBackup is a backup it
	// newly read (nil: status.lastBackup stands), backupReportProblem why
	// the latest succeeded Job's report could not be read, and failedBackup
	// the backup Job that failed after the latest success, if one did.
	backupsObserved     bool
	lastBackup          *v1alpha1.BackupStatus
	backupReportProblem string
	failedBackup        *batchv1.Job
	// canary is what the canary saw, when it ran in this pass.
	canary *canaryRun
}

// loadSecrets reads every Secret the spec references and computes the
// builders' inputs from them, so a change in a Secret's data changes the
// configuration hash and rolls the pods. A missing Secret, or a missing key
// the server container needs, ends the pass: the children are left as they
// are rather than rendered into pods that cannot start.
func (r *PrefectServerReconciler) loadSecrets(ctx context.Context, p *pass) (bool, error) {
	data := map[string][]byte{}
	for _, name := range builders.ReferencedSecrets(p.ps) {
		var s corev1.Secret
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: p.ps.Namespace, Name: name}, &s)
		if apierrors.IsNotFound(err) {
			p.missingSecret = name
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("get Secret %s: %w", name, err)
		}
		for k, v := range s.Data {
			data[name+"/"+k] = v
		}
	}
	for _, ref := range builders.RequiredSecretKeys(p.ps) {
		if _, ok := data[ref.Name+"/"+ref.Key]; !ok {
			p.missingSecret, p.missingKey = ref.Name, ref.Key
			return false, nil
		}
	}
	p.inputs = builders.Inputs{DefaultImage: r.DefaultImage, SecretData: data}
	return true, nil
}

// applyService applies the API's Service.
func (r *PrefectServerReconciler) applyService(ctx context.Context, p *pass) (bool, error) {
	return true, r.apply(ctx, p.ps, builders.Service(p.ps), owned)
}

// applyVolume applies the SQLite PersistentVolumeClaim. With retainOnDelete
// (the default) it carries no owner reference, so deleting the PrefectServer
// keeps the data, and a PrefectServer of the same name picks it up again.
// A volume left over from an earlier storage choice is not deleted: it holds data.
// The backup volume the operator creates (spec.backup without a claim of
// its own) is never owned: backups are for when the server is gone.
func (r *PrefectServerReconciler) applyVolume(ctx context.Context, p *pass) (bool, error) {
	if pvc := builders.BackupPVC(p.ps); pvc != nil {
		if err := r.apply(ctx, p.ps, pvc, unowned); err != nil {
			return false, err
		}
	}
	pvc := builders.PVC(p.ps)
	if pvc == nil {
		return true, nil
	}
	own := owned
	if retainVolume(p.ps) {
		own = unowned
	}
	return true, r.apply(ctx, p.ps, pvc, own)
}

// retainVolume reports whether the SQLite volume outlives the PrefectServer.
func retainVolume(ps *v1alpha1.PrefectServer) bool {
	sq := ps.Spec.Storage.SQLite
	return sq == nil || sq.RetainOnDelete == nil || *sq.RetainOnDelete
}

// migrateDatabase runs the PostgreSQL schema migration for the current
// configuration before any pod runs it: the Job's name carries the
// configuration hash, so a new image or database setting gets a new Job.
// Until that Job has succeeded the pass stops here, so the Deployment keeps
// its previous template (or is not created yet) and a failed migration rolls
// nothing. Once it succeeded, the Jobs of earlier hashes are deleted.
//
// A Job's pod template is immutable, so an existing Job of the current hash
// is observed, never re-applied; deleting a failed Job makes the next pass
// create it afresh, which is how to retry.
func (r *PrefectServerReconciler) migrateDatabase(ctx context.Context, p *pass) (bool, error) {
	want := builders.MigrationJob(p.ps, p.inputs)
	if want == nil {
		// SQLite and ephemeral storage: the server migrates at start.
		return true, r.deleteMigrationJobs(ctx, p.ps, "")
	}
	job := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKey{Namespace: p.ps.Namespace, Name: want.Name}, job)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.apply(ctx, p.ps, want, owned); err != nil {
			return false, err
		}
		job = want
	case err != nil:
		return false, fmt.Errorf("get Job %s: %w", want.Name, err)
	}
	p.migration = job
	if state, _ := migrationStatus(job); state != migrationSucceeded {
		return false, nil
	}
	return true, r.deleteMigrationJobs(ctx, p.ps, job.Name)
}

// deleteMigrationJobs deletes this PrefectServer's migration Jobs except keep.
func (r *PrefectServerReconciler) deleteMigrationJobs(ctx context.Context, ps *v1alpha1.PrefectServer, keep string) error {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(ps.Namespace)); err != nil {
		return fmt.Errorf("list Jobs: %w", err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Name == keep || !metav1.IsControlledBy(j, ps) || !strings.HasPrefix(j.Name, ps.Name+"-migrate-") {
			continue
		}
		if err := r.deleteChild(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// jobFinished returns the Job's terminal condition of type t, if it is True.
func jobFinished(job *batchv1.Job, t batchv1.JobConditionType) (batchv1.JobCondition, bool) {
	for _, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return c, true
		}
	}
	return batchv1.JobCondition{}, false
}

// applyDeployment applies the server Deployment. Its pod template carries the
// configuration hash, so any setting or referenced Secret change rolls the pods.
func (r *PrefectServerReconciler) applyDeployment(ctx context.Context, p *pass) (bool, error) {
	dep := builders.Deployment(p.ps, p.inputs)
	if err := r.apply(ctx, p.ps, dep, owned); err != nil {
		return false, err
	}
	p.deployment = dep
	return true, nil
}

// reconcileDisruptionBudget applies the server pods' PodDisruptionBudget
// while there is more than one replica, and deletes it otherwise.
func (r *PrefectServerReconciler) reconcileDisruptionBudget(ctx context.Context, p *pass) (bool, error) {
	if pdb := builders.PodDisruptionBudget(p.ps); pdb != nil {
		return true, r.apply(ctx, p.ps, pdb, owned)
	}
	have := &policyv1.PodDisruptionBudget{}
	err := r.Get(ctx, client.ObjectKey{Namespace: p.ps.Namespace, Name: builders.PodDisruptionBudgetName(p.ps)}, have)
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get PodDisruptionBudget: %w", err)
	case !metav1.IsControlledBy(have, p.ps):
		return true, nil // not ours to delete
	}
	return true, r.deleteChild(ctx, have)
}

// reconcileCronJobs applies the retention and scheduling CronJobs, and the
// backup CronJob when the spec asks, and deletes the ones this PrefectServer
// no longer wants (ephemeral storage wants none: its in-process services do
// that work).
func (r *PrefectServerReconciler) reconcileCronJobs(ctx context.Context, p *pass) (bool, error) {
	want := map[string]bool{}
	for _, cj := range builders.CronJobs(p.ps, p.inputs) {
		if err := r.apply(ctx, p.ps, cj, owned); err != nil {
			return false, err
		}
		want[cj.Name] = true
		p.cronJobs = append(p.cronJobs, cj.Name)
	}
	if cj := builders.BackupCronJob(p.ps, p.inputs); cj != nil {
		if err := r.apply(ctx, p.ps, cj, owned); err != nil {
			return false, err
		}
		want[cj.Name] = true
	}
	var have batchv1.CronJobList
	if err := r.List(ctx, &have, client.InNamespace(p.ps.Namespace)); err != nil {
		return false, fmt.Errorf("list CronJobs: %w", err)
	}
	for i := range have.Items {
		cj := &have.Items[i]
		if want[cj.Name] || !metav1.IsControlledBy(cj, p.ps) {
			continue
		}
		if err := r.deleteChild(ctx, cj); err != nil {
			return false, err
		}
	}
	p.cronJobsDone = true
	return true, nil
}
