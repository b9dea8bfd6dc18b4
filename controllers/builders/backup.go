package builders

import (
	"path"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// Names in the pods that back up and restore.
const (
	// BackupVolume is the backup claim's volume.
	BackupVolume = "backup"
	// BackupContainer runs `prefect-server backup` in the backup Job (a
	// Job's container is named after its subcommand); its termination
	// message is the backup's report.
	BackupContainer = "backup"
)

// BackupCronJob runs `prefect-server backup` on spec.backup's schedule; nil
// without spec.backup or SQLite storage. Its pod mounts the server's SQLite
// volume (VACUUM INTO reads the live database beside the server, which WAL
// allows) and the backup claim, where it writes to a directory named after
// the server, so servers sharing a claim never prune each other's backups.
//
// The SQLite volume is ReadWriteOnce: it is attached to the server pod's
// node and no other, so the Job's pod must run there too. cronJob gives it a
// required pod affinity to the server's pods on the node's hostname (the
// retention and scheduling Jobs need the same); the backup claim, if
// ReadWriteOnce too, must be able to attach on that node. While the server
// has no pod (suspended, or zero replicas) the Job could not be placed: a
// suspended server's CronJobs are suspended.
//
// The report the command prints also goes to the container's termination
// message, which the operator reads from the finished pod's status.
func BackupCronJob(ps *v1alpha1.PrefectServer, in Inputs) *batchv1.CronJob {
	if !HasBackups(ps) {
		return nil
	}
	b := ps.Spec.Backup
	cj := cronJob(ps, in, BackupCronJobName(ps), ComponentBackup, "backup",
		v1alpha1.CronJobSettings{Schedule: b.Schedule}, defaultBackupSchedule)
	pod := &cj.Spec.JobTemplate.Spec.Template.Spec
	c := &pod.Containers[0]
	c.Args = []string{"--dir", path.Join(BackupDir, ps.Name), "--keep", strconv.Itoa(int(orDefault(b.Keep, defaultBackupKeep)))}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: BackupVolume, MountPath: BackupDir})
	// The defaults, spelt out: the operator depends on them.
	c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	pod.Volumes = append(pod.Volumes, backupClaimVolume(ps, false))
	return cj
}

// restoreContainer runs `prefect-server restore --if-missing` before the
// server starts: it checks the backup storage.sqlite.restoreFrom names and
// copies it into place when the database does not exist yet (a new
// volume); at every later start the database exists and is left alone.
// nil unless restoreFrom is set.
func restoreContainer(ps *v1alpha1.PrefectServer, in Inputs) *corev1.Container {
	sq := ps.Spec.Storage.SQLite
	if StorageKind(ps) != StorageSQLite || sq == nil || sq.RestoreFrom == "" {
		return nil
	}
	c := container(ps, in, "restore", "restore")
	c.Args = []string{"--from", path.Join(BackupDir, sq.RestoreFrom), "--if-missing"}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: BackupVolume, MountPath: BackupDir, ReadOnly: true})
	return &c
}

func backupClaimVolume(ps *v1alpha1.PrefectServer, readOnly bool) corev1.Volume {
	return corev1.Volume{
		Name: BackupVolume,
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: BackupClaimName(ps), ReadOnly: readOnly,
		}},
	}
}
