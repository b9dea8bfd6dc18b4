package builders

import (
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// PostgreSQL's TLS files in the pods: each Secret a read-only volume of its
// own, its keys at fixed names.
const (
	postgresTLSDir     = "/etc/prefect/postgres-tls"
	postgresCAVolume   = "postgres-ca"
	postgresCertVolume = "postgres-client-cert"
)

var (
	postgresCAFile   = path.Join(postgresTLSDir, "ca", "ca.crt")
	postgresCertFile = path.Join(postgresTLSDir, "client", corev1.TLSCertKey)
	postgresKeyFile  = path.Join(postgresTLSDir, "client", corev1.TLSPrivateKeyKey)
)

// postgresTLS is spec.storage.postgres.tls, nil when the server does not
// connect to PostgreSQL over the spec's TLS.
func postgresTLS(ps *v1alpha1.PrefectServer) *v1alpha1.PostgresTLS {
	if StorageKind(ps) != StoragePostgres {
		return nil
	}
	return ps.Spec.Storage.Postgres.TLS
}

// postgresTLSSettings are the database.tls.* settings of t, by settings
// name, pointing at the files postgresTLSVolumes mounts.
func postgresTLSSettings(t *v1alpha1.PostgresTLS) [][2]string {
	s := [][2]string{
		{"database.tls.enabled", "true"},
		{"database.tls.check_hostname", strconv.FormatBool(t.CheckHostname == nil || *t.CheckHostname)},
	}
	if t.CASecretRef != nil {
		s = append(s, [2]string{"database.tls.ca_file", postgresCAFile})
	}
	if t.ClientCertSecretName != "" {
		s = append(s, [2]string{"database.tls.cert_file", postgresCertFile}, [2]string{"database.tls.key_file", postgresKeyFile})
	}
	return s
}

// postgresTLSVolumes are the Secret volumes of t and their mounts. The key
// is readable by the pod's fsGroup only; the server reads it at start, so a
// new certificate needs new pods (its Secret feeds ConfigHash).
func postgresTLSVolumes(t *v1alpha1.PostgresTLS) ([]corev1.Volume, []corev1.VolumeMount) {
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	mode := int32(0o440)
	add := func(name, secret, dir string, items []corev1.KeyToPath) {
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret, Items: items, DefaultMode: &mode}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: dir, ReadOnly: true})
	}
	if t.CASecretRef != nil {
		add(postgresCAVolume, t.CASecretRef.Name, path.Dir(postgresCAFile),
			[]corev1.KeyToPath{{Key: t.CASecretRef.Key, Path: path.Base(postgresCAFile)}})
	}
	if t.ClientCertSecretName != "" {
		add(postgresCertVolume, t.ClientCertSecretName, path.Dir(postgresCertFile), []corev1.KeyToPath{
			{Key: corev1.TLSCertKey, Path: corev1.TLSCertKey}, {Key: corev1.TLSPrivateKeyKey, Path: corev1.TLSPrivateKeyKey}})
	}
	return volumes, mounts
}

// postgresTLSKeys are the Secret keys the volumes of t mount, which the
// pods cannot start without.
func postgresTLSKeys(t *v1alpha1.PostgresTLS) []corev1.SecretKeySelector {
	var keys []corev1.SecretKeySelector
	volumes, _ := postgresTLSVolumes(t)
	for _, v := range volumes {
		for _, item := range v.Secret.Items {
			keys = append(keys, corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Key: item.Key})
		}
	}
	return keys
}
