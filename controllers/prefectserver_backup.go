package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
)

// observeBackups finds how the backup CronJob's latest Jobs ended and, for a
// newly succeeded one, reads the report `prefect-server backup` left as its
// container's termination message: one List of that Job's pods, straight
// from the API server (the operator caches no pods). A Job whose report
// status.lastBackup already holds is not read again.
func (r *PrefectServerReconciler) observeBackups(ctx context.Context, p *pass) (bool, error) {
	if !builders.HasBackups(p.ps) {
		return true, nil
	}
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(p.ps.Namespace), client.MatchingLabels{
		"app.kubernetes.io/instance":  p.ps.Name,
		"app.kubernetes.io/component": builders.ComponentBackup,
	}); err != nil {
		return false, fmt.Errorf("list backup Jobs: %w", err)
	}
	var succeeded, failed *batchv1.Job
	var succeededAt, failedAt time.Time
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if !madeByCronJob(j, builders.BackupCronJobName(p.ps)) {
			continue
		}
		if c, ok := jobFinished(j, batchv1.JobComplete); ok && !c.LastTransitionTime.Time.Before(succeededAt) {
			succeeded, succeededAt = j, c.LastTransitionTime.Time
		}
		if c, ok := jobFinished(j, batchv1.JobFailed); ok && !c.LastTransitionTime.Time.Before(failedAt) {
			failed, failedAt = j, c.LastTransitionTime.Time
		}
	}
	p.backupsObserved = true
	if failed != nil && (succeeded == nil || failedAt.After(succeededAt)) {
		p.failedBackup = failed
	}
	if succeeded == nil {
		return true, nil
	}
	if last := p.ps.Status.LastBackup; last != nil && last.Job == succeeded.Name {
		return true, nil
	}
	report, problem, err := r.backupReport(ctx, succeeded)
	if err != nil {
		return false, err
	}
	p.lastBackup, p.backupReportProblem = report, problem
	return true, nil
}

// madeByCronJob reports whether the Job's controller is the CronJob name.
func madeByCronJob(job *batchv1.Job, name string) bool {
	ref := metav1.GetControllerOf(job)
	return ref != nil && ref.APIVersion == "batch/v1" && ref.Kind == "CronJob" && ref.Name == name
}

// backupReport reads the backup report of a succeeded backup Job from its
// succeeded pod's termination message. A report that cannot be read (the
// pod is gone, the message is not a report) is a problem to tell, not an
// error: it will not get better by retrying.
func (r *PrefectServerReconciler) backupReport(ctx context.Context, job *batchv1.Job) (*v1alpha1.BackupStatus, string, error) {
	if job.Spec.Selector == nil {
		return nil, "it has no pod selector", nil
	}
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, "its pod selector does not parse", nil
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, "", fmt.Errorf("list the pods of Job %s: %w", job.Name, err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !metav1.IsControlledBy(pod, job) || pod.Status.Phase != corev1.PodSucceeded {
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			t := cs.State.Terminated
			if cs.Name != builders.BackupContainer || t == nil || t.ExitCode != 0 {
				continue
			}
			return parseBackupReport(t.Message, job)
		}
	}
	return nil, "no succeeded pod of it is left to read the report from", nil
}

// parseBackupReport turns the report line into status.lastBackup; only the
// fields it names are kept, never the message itself.
func parseBackupReport(message string, job *batchv1.Job) (*v1alpha1.BackupStatus, string, error) {
	var rep struct {
		File      string    `json:"file"`
		Path      string    `json:"path"`
		Time      time.Time `json:"time"`
		SizeBytes int64     `json:"sizeBytes"`
	}
	if err := json.Unmarshal([]byte(message), &rep); err != nil || rep.File == "" || rep.Time.IsZero() {
		return nil, "its termination message is not a backup report", nil
	}
	// The path on the claim, as restoreFrom takes it: <server>/<file>.
	file := rep.File
	if rel, ok := strings.CutPrefix(rep.Path, builders.BackupDir+"/"); ok {
		file = rel
	}
	return &v1alpha1.BackupStatus{
		File:            file,
		VolumeClaimName: backupClaimOf(job),
		Time:            new(metav1.NewTime(rep.Time)),
		SizeBytes:       rep.SizeBytes,
		Job:             job.Name,
	}, "", nil
}

// backupClaimOf is the claim the Job's pods wrote to.
func backupClaimOf(job *batchv1.Job) string {
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.Name == builders.BackupVolume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

// backupJobServer maps a backup Job to its PrefectServer by its labels: the
// backup CronJob, not the PrefectServer, controls it, so Owns() misses it.
func backupJobServer(_ context.Context, job client.Object) []reconcile.Request {
	l := job.GetLabels()
	name := l["app.kubernetes.io/instance"]
	if l["app.kubernetes.io/component"] != builders.ComponentBackup || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: job.GetNamespace(), Name: name}}}
}

// backupText describes a backup for a condition message.
func backupText(b *v1alpha1.BackupStatus) string {
	when := "at an unknown time"
	if b.Time != nil {
		when = "taken " + b.Time.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s on claim %s (%d bytes, %s, by Job %s)", b.File, b.VolumeClaimName, b.SizeBytes, when, b.Job)
}
