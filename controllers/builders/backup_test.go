package builders

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

func withBackup(b v1alpha1.BackupSpec) func(*v1alpha1.PrefectServerSpec) {
	return func(s *v1alpha1.PrefectServerSpec) { s.Backup = &b }
}

func TestNoBackupsUnlessAskedOnSQLite(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*v1alpha1.PrefectServerSpec){
		"sqlite without spec.backup": nil,
		// The CRD refuses these two; the builders do not depend on it.
		"postgres with spec.backup": func(s *v1alpha1.PrefectServerSpec) {
			postgresParts(&v1alpha1.PostgresStorage{Host: "h", User: "u"})(s)
			s.Backup = &v1alpha1.BackupSpec{}
		},
		"ephemeral with spec.backup": func(s *v1alpha1.PrefectServerSpec) {
			s.Storage.Ephemeral = &v1alpha1.EphemeralStorage{}
			s.Backup = &v1alpha1.BackupSpec{}
		},
	} {
		ps := newServer(t, edit)
		require.Nil(t, BackupCronJob(ps, testInputs), name)
		require.Nil(t, BackupPVC(ps), name)
		require.False(t, HasBackups(ps), name)
	}
}

func TestBackupCronJob(t *testing.T) {
	t.Parallel()
	ps := newServer(t, withBackup(v1alpha1.BackupSpec{}))
	cj := BackupCronJob(ps, testInputs)
	require.NotNil(t, cj)
	require.Equal(t, metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, cj.TypeMeta)
	require.Equal(t, "prefect-backup", cj.Name)
	require.Equal(t, "ns", cj.Namespace)
	require.Equal(t, "0 3 * * *", cj.Spec.Schedule, "the CRD's default")
	require.False(t, *cj.Spec.Suspend)
	require.Equal(t, "backup", cj.Spec.JobTemplate.Labels["app.kubernetes.io/component"])

	job := cj.Spec.JobTemplate.Spec
	pod := job.Template.Spec
	require.Equal(t, "backup", job.Template.Labels["app.kubernetes.io/component"])
	require.False(t, labels.SelectorFromSet(SelectorLabels(ps)).Matches(labels.Set(job.Template.Labels)),
		"the Service must not select a backup pod")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	require.Equal(t, BackupContainer, c.Name)
	require.Equal(t, []string{"/prefect-server", "backup"}, c.Command)
	require.Equal(t, []string{"--dir", "/backup/prefect", "--keep", "7"}, c.Args)
	require.Equal(t, ServerEnv(ps), c.Env, "the same database settings as the server")
	require.Equal(t, "/dev/termination-log", c.TerminationMessagePath)
	require.Equal(t, corev1.TerminationMessageReadFile, c.TerminationMessagePolicy)

	// The server's volumes, and the backup claim.
	dep := Deployment(ps, testInputs)
	server := dep.Spec.Template.Spec
	require.Equal(t, append(server.Volumes, corev1.Volume{Name: "backup", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "prefect-backup"},
	}}), pod.Volumes)
	require.Equal(t, append(server.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "backup", MountPath: "/backup"}), c.VolumeMounts)

	// On the server pod's node, where the ReadWriteOnce data volume is attached.
	require.Equal(t, []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
		TopologyKey:   "kubernetes.io/hostname",
	}}, pod.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)

	// Non-root, as the server pods.
	require.Equal(t, server.SecurityContext, pod.SecurityContext)
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.Equal(t, server.Containers[0].SecurityContext, c.SecurityContext)
}

func TestBackupCronJobFollowsTheSpec(t *testing.T) {
	t.Parallel()
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Suspend = new(true)
		withBackup(v1alpha1.BackupSpec{Schedule: "15 */6 * * *", Keep: new(int32(30)), VolumeClaimName: "nas"})(s)
	})
	cj := BackupCronJob(ps, testInputs)
	require.Equal(t, "15 */6 * * *", cj.Spec.Schedule)
	require.True(t, *cj.Spec.Suspend, "spec.suspend suspends backups too")
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	require.Equal(t, []string{"--dir", "/backup/prefect", "--keep", "30"}, pod.Containers[0].Args)
	require.Equal(t, "nas", pod.Volumes[len(pod.Volumes)-1].PersistentVolumeClaim.ClaimName)
	require.Nil(t, BackupPVC(ps), "the user's claim: the operator makes none")
	require.Equal(t, "nas", BackupClaimName(ps))
}

func TestBackupPVC(t *testing.T) {
	t.Parallel()
	pvc := BackupPVC(newServer(t, withBackup(v1alpha1.BackupSpec{})))
	require.Equal(t, "prefect-backup", pvc.Name)
	require.Equal(t, "backup", pvc.Labels["app.kubernetes.io/component"])
	require.Equal(t, "prefect", pvc.Labels["app.kubernetes.io/instance"])
	require.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pvc.Spec.AccessModes)
	require.Equal(t, resource.MustParse("5Gi"), pvc.Spec.Resources.Requests[corev1.ResourceStorage])
	require.Nil(t, pvc.Spec.StorageClassName)

	pvc = BackupPVC(newServer(t, withBackup(v1alpha1.BackupSpec{Size: resource.MustParse("20Gi"), StorageClassName: new("slow")})))
	require.Equal(t, resource.MustParse("20Gi"), pvc.Spec.Resources.Requests[corev1.ResourceStorage])
	require.Equal(t, "slow", *pvc.Spec.StorageClassName)
}

func TestRestoreInitContainer(t *testing.T) {
	t.Parallel()
	require.Empty(t, Deployment(newServer(t, withBackup(v1alpha1.BackupSpec{})), testInputs).Spec.Template.Spec.InitContainers)

	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.Storage.SQLite = &v1alpha1.SQLiteStorage{RestoreFrom: "old/prefect-20250301T120000Z.db"}
		s.Backup = &v1alpha1.BackupSpec{VolumeClaimName: "old-backup"}
	})
	pod := Deployment(ps, testInputs).Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1)
	init := pod.InitContainers[0]
	require.Equal(t, "restore", init.Name)
	require.Equal(t, []string{"/prefect-server", "restore"}, init.Command)
	require.Equal(t, []string{"--from", "/backup/old/prefect-20250301T120000Z.db", "--if-missing"}, init.Args)
	require.Equal(t, ServerEnv(ps), init.Env, "the same database as the server")
	require.Equal(t, pod.Containers[0].SecurityContext, init.SecurityContext)
	require.Contains(t, init.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	require.Contains(t, init.VolumeMounts, corev1.VolumeMount{Name: "backup", MountPath: "/backup", ReadOnly: true})
	require.NotContains(t, pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "backup", MountPath: "/backup", ReadOnly: true},
		"the server itself does not mount the backups")
	require.Contains(t, pod.Volumes, corev1.Volume{Name: "backup", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "old-backup", ReadOnly: true},
	}})
}
