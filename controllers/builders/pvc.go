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
	size := sq.Size
	if size.IsZero() {
		size = resource.MustParse(defaultSQLiteSize)
	}
	var class *string
	if sq.StorageClassName != nil {
		class = new(*sq.StorageClassName)
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: PVCName(ps), Namespace: ps.Namespace, Labels: Labels(ps)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()},
			},
		},
	}
}
