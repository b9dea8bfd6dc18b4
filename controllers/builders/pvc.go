package builders

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// PVC is the SQLite volume, mounted at DataDir; nil unless storage is SQLite.
// A nil storage class means the cluster's default class.
func PVC(ps *v1alpha1.PrefectServer) *corev1.PersistentVolumeClaim {
	if StorageKind(ps) != StorageSQLite {
		return nil
	}
	var sq v1alpha1.SQLiteStorage
	if ps.Spec.Storage.SQLite != nil {
		sq = *ps.Spec.Storage.SQLite
	}
	return claim(ps, PVCName(ps), Labels(ps), sq.Size, defaultSQLiteSize, sq.StorageClassName)
}

// BackupPVC is the volume the backups go to when spec.backup names no claim
// of its own; nil otherwise. Built as the SQLite volume is.
func BackupPVC(ps *v1alpha1.PrefectServer) *corev1.PersistentVolumeClaim {
	if !HasBackups(ps) || ps.Spec.Backup.VolumeClaimName != "" {
		return nil
	}
	b := ps.Spec.Backup
	return claim(ps, BackupPVCName(ps), componentLabels(ps, ComponentBackup), b.Size, defaultBackupSize, b.StorageClassName)
}

// claim is a ReadWriteOnce volume claim of size (fallback when zero); a
// nil storage class means the cluster's default class.
func claim(ps *v1alpha1.PrefectServer, name string, labels map[string]string,
	size resource.Quantity, fallback string, storageClass *string) *corev1.PersistentVolumeClaim {
	if size.IsZero() {
		size = resource.MustParse(fallback)
	}
	var class *string
	if storageClass != nil {
		class = new(*storageClass)
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ps.Namespace, Labels: labels},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()},
			},
		},
	}
}
