package controllers

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
)

// TestBackupCronJob: spec.backup becomes a CronJob running `prefect-server
// backup` with its schedule and keep, mounting the server's volume and the
// backup claim, beside the server pod; edits follow, spec.suspend suspends
// it, and removing spec.backup deletes it.
func TestBackupCronJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Backup = &v1alpha1.BackupSpec{Schedule: "45 1 * * *", Keep: new(int32(4))}
	})

	cj := b.waitForBackupCronJob(t, ps, nil)
	require.True(t, metav1.IsControlledBy(cj, ps))
	require.Equal(t, "45 1 * * *", cj.Spec.Schedule)
	require.False(t, *cj.Spec.Suspend)
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	require.Equal(t, []string{"/prefect-server", "backup"}, pod.Containers[0].Command)
	require.Equal(t, []string{"--dir", "/backup/prefect", "--keep", "4"}, pod.Containers[0].Args)
	require.Equal(t, map[string]string{"data": builders.PVCName(ps), "backup": "prefect-backup"}, claims(pod))
	require.Contains(t, pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	require.Contains(t, pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "backup", MountPath: "/backup"})
	terms := pod.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	require.Len(t, terms, 1)
	require.Equal(t, "kubernetes.io/hostname", terms[0].TopologyKey)
	require.Equal(t, builders.SelectorLabels(ps), terms[0].LabelSelector.MatchLabels)
	require.True(t, *pod.SecurityContext.RunAsNonRoot)

	// The backup volume the operator made is kept when the server goes.
	pvc := b.waitFor(t, builders.BackupPVCName(ps), &corev1.PersistentVolumeClaim{}).(*corev1.PersistentVolumeClaim)
	require.Empty(t, pvc.OwnerReferences)
	require.Equal(t, "5Gi", pvc.Spec.Resources.Requests.Storage().String())

	// Until a Job has run, the condition says so.
	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackedUp, metav1.ConditionUnknown, ReasonPending)
	require.Nil(t, got.Status.LastBackup)

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Backup.Keep = new(int32(9))
		ps.Spec.Backup.VolumeClaimName = "nas"
	})
	b.waitForBackupCronJob(t, ps, func(cj *batchv1.CronJob) bool {
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		return slices.Equal(pod.Containers[0].Args, []string{"--dir", "/backup/prefect", "--keep", "9"}) &&
			claims(pod)["backup"] == "nas"
	})

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Suspend = new(true) })
	b.waitForBackupCronJob(t, ps, func(cj *batchv1.CronJob) bool { return *cj.Spec.Suspend })
	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Suspend = new(false) })
	b.waitForBackupCronJob(t, ps, func(cj *batchv1.CronJob) bool { return !*cj.Spec.Suspend })

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Backup = nil })
	b.waitForAbsent(t, builders.BackupCronJobName(ps), &batchv1.CronJob{})
	require.Eventually(t, func() bool {
		return meta.FindStatusCondition(b.server(t, ps.Name).Status.Conditions, v1alpha1.ConditionBackedUp) == nil
	}, wait, tick, "BackedUp outlived spec.backup")
	b.waitFor(t, builders.RetentionCronJobName(ps), &batchv1.CronJob{})
}

// TestRestoreFrom: storage.sqlite.restoreFrom puts an init container before
// the server that restores that file from the backup claim; without it the
// pod has none.
func TestRestoreFrom(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "restored", func(ps *v1alpha1.PrefectServer) {
		ps.Spec.Storage.SQLite = &v1alpha1.SQLiteStorage{RestoreFrom: "prefect/prefect-20250301T120000Z.db"}
		ps.Spec.Backup = &v1alpha1.BackupSpec{VolumeClaimName: "prefect-backup"}
	})
	dep := b.waitForDeployment(t, ps, nil)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1)
	require.Equal(t, []string{"/prefect-server", "restore"}, pod.InitContainers[0].Command)
	require.Equal(t, []string{"--from", "/backup/prefect/prefect-20250301T120000Z.db", "--if-missing"}, pod.InitContainers[0].Args)
	require.Equal(t, "prefect-backup", claims(pod)["backup"])
	b.requireAbsent(t, builders.BackupPVCName(ps), &corev1.PersistentVolumeClaim{}) // the user's claim

	b.update(t, ps.Name, func(ps *v1alpha1.PrefectServer) { ps.Spec.Storage.SQLite.RestoreFrom = "" })
	b.waitForDeployment(t, ps, func(d *appsv1.Deployment) bool {
		_, mounted := claims(d.Spec.Template.Spec)["backup"]
		return len(d.Spec.Template.Spec.InitContainers) == 0 && !mounted
	})
}

// TestBackupStatus plays the CronJob and Job controllers and the kubelet,
// which envtest lacks: a backup Job made from the CronJob succeeds with the
// report in its pod's termination message, which becomes status.lastBackup;
// a later Job fails, which turns BackedUp False with an Event and keeps the
// last good backup. A Job the CronJob did not make is not read.
func TestBackupStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ps := b.create(t, "prefect", func(ps *v1alpha1.PrefectServer) { ps.Spec.Backup = &v1alpha1.BackupSpec{} })
	cj := b.waitForBackupCronJob(t, ps, nil)
	// From here on only the Jobs' changes can start a pass.
	b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackedUp, metav1.ConditionUnknown, ReasonPending)
	b.waitSettled(t)

	taken := time.Date(2025, 3, 1, 2, 30, 0, 0, time.UTC)
	report := map[string]any{
		"file": "prefect-20250301T023000Z.db", "path": "/backup/prefect/prefect-20250301T023000Z.db",
		"time": taken, "sizeBytes": 123456, "durationSeconds": 0.5, "kept": 3, "pruned": 1,
	}
	start := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	done := metav1.NewTime(start.Add(time.Minute))
	ok := b.backupJob(t, cj, "prefect-backup-29000000", true)
	b.backupPod(t, ok, report)
	b.setJobStatus(t, ok, batchv1.JobStatus{
		StartTime: &start, CompletionTime: &done, Succeeded: 1,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: done},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: done},
		},
	})

	got := b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackedUp, metav1.ConditionTrue, ReasonBackupSucceeded)
	require.Equal(t, &v1alpha1.BackupStatus{
		File: "prefect/prefect-20250301T023000Z.db", VolumeClaimName: "prefect-backup",
		Time: new(metav1.NewTime(taken)), SizeBytes: 123456, Job: ok.Name,
	}, normalise(got.Status.LastBackup))
	require.Contains(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionBackedUp).Message, "prefect/prefect-20250301T023000Z.db")

	b.waitSettled(t)
	// The next Job fails. A Job with the same labels that the CronJob did
	// not make, failed later still, is not the one reported.
	failedAt := metav1.NewTime(done.Add(time.Minute))
	stranger := b.backupJob(t, cj, "stranger", false)
	b.setJobStatus(t, stranger, failedStatus(start, metav1.NewTime(failedAt.Add(time.Minute))))
	bad := b.backupJob(t, cj, "prefect-backup-29000060", true)
	b.setJobStatus(t, bad, failedStatus(start, failedAt))
	got = b.waitForCondition(t, ps.Name, v1alpha1.ConditionBackedUp, metav1.ConditionFalse, ReasonBackupFailed)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionBackedUp).Message
	require.Contains(t, msg, bad.Name)
	require.NotContains(t, msg, stranger.Name)
	require.Contains(t, msg, "BackoffLimitExceeded")
	require.Contains(t, msg, "prefect/prefect-20250301T023000Z.db", "the last good backup")
	require.Equal(t, ok.Name, got.Status.LastBackup.Job)
	b.waitForEvent(t, ps, ReasonBackupFailed)
}

func failedStatus(start, at metav1.Time) batchv1.JobStatus {
	return batchv1.JobStatus{
		StartTime: &start, Failed: 3,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
				Message: "Job has reached the specified backoff limit", LastTransitionTime: at},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
				Message: "Job has reached the specified backoff limit", LastTransitionTime: at},
		},
	}
}

// normalise drops what a round trip through the API server changes in a
// time (its location) so statuses compare.
func normalise(s *v1alpha1.BackupStatus) *v1alpha1.BackupStatus {
	if s != nil && s.Time != nil {
		s.Time = new(metav1.NewTime(s.Time.UTC()))
	}
	return s
}

// claims maps a pod's volume names to the claims they mount.
func claims(pod corev1.PodSpec) map[string]string {
	out := map[string]string{}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			out[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	return out
}

// waitForBackupCronJob polls until the backup CronJob exists and satisfies ok.
func (b *testBundle) waitForBackupCronJob(t *testing.T, ps *v1alpha1.PrefectServer, ok func(*batchv1.CronJob) bool) *batchv1.CronJob {
	t.Helper()
	cj := &batchv1.CronJob{}
	require.Eventually(t, func() bool {
		err := b.c.Get(b.ctx, client.ObjectKey{Namespace: b.ns, Name: builders.BackupCronJobName(ps)}, cj)
		return err == nil && (ok == nil || ok(cj))
	}, wait, tick, "the backup CronJob never got there")
	return cj
}

// backupJob creates a Job as the CronJob controller would from cj: its
// template's labels and spec, and, if fromCronJob, cj as its controller.
func (b *testBundle) backupJob(t *testing.T, cj *batchv1.CronJob, name string, fromCronJob bool) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns, Labels: cj.Spec.JobTemplate.Labels},
		Spec:       *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	if fromCronJob {
		job.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: new(true),
		}}
	}
	require.NoError(t, b.c.Create(b.ctx, job))
	return job
}

// backupPod creates the Job's pod, as the Job controller would, and ends it
// as the kubelet would, with report as the backup container's termination
// message.
func (b *testBundle) backupPod(t *testing.T, job *batchv1.Job, report map[string]any) {
	t.Helper()
	msg, err := json.Marshal(report)
	require.NoError(t, err)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name + "-x", Namespace: b.ns, Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: new(true),
			}},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	require.NoError(t, b.c.Create(b.ctx, pod))
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := b.c.Get(b.ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodSucceeded,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: builders.BackupContainer, Image: pod.Spec.Containers[0].Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", Message: string(msg) + "\n",
				}},
			}},
		}
		return b.c.Status().Update(b.ctx, pod)
	}))
}

// waitSettled waits until a second passes without a reconcile in the test's
// namespace, so what comes next is all that can start one.
func (b *testBundle) waitSettled(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		before := b.env.calls.count(b.ns)
		time.Sleep(time.Second)
		return b.env.calls.count(b.ns) == before
	}, wait, tick, "the reconciler does not settle")
}
