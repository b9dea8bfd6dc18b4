package builders

import (
	"path"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

func TestPostgresTLS(t *testing.T) {
	t.Parallel()
	withTLS := func(tls *v1alpha1.PostgresTLS) *v1alpha1.PrefectServer {
		return newServer(t, func(s *v1alpha1.PrefectServerSpec) {
			s.Storage.Postgres = &v1alpha1.PostgresStorage{Host: "db", User: "u", PasswordSecretRef: secretRef("pg", "password"), TLS: tls}
		})
	}
	mutual := withTLS(&v1alpha1.PostgresTLS{CASecretRef: secretRef("pg-ca", "ca.pem"), ClientCertSecretName: "pg-client"})

	env := envMap(ServerEnv(mutual))
	require.Equal(t, "true", env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED"])
	require.Equal(t, "true", env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME"], "checked by default")
	files := []string{
		env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE"],
		env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CERT_FILE"],
		env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_KEY_FILE"],
	}
	require.Equal(t, []string{"pg", "pg-ca", "pg-client"}, ReferencedSecrets(mutual), "a new certificate rolls the pods")
	require.Equal(t, []string{"pg/password", "pg-ca/ca.pem", "pg-client/tls.crt", "pg-client/tls.key"}, keyNames(RequiredSecretKeys(mutual)), "no pod before the files exist")

	// Every pod that connects (the server, the migration Job, the CronJobs) has the files the
	// settings name, from the Secrets' keys, read-only.
	in := Inputs{DefaultImage: "img"}
	pods := []corev1.PodSpec{Deployment(mutual, in).Spec.Template.Spec, MigrationJob(mutual, in).Spec.Template.Spec}
	for _, cj := range CronJobs(mutual, in) {
		pods = append(pods, cj.Spec.JobTemplate.Spec.Template.Spec)
	}
	require.Len(t, pods, 4)
	for _, pod := range pods {
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = v
		}
		secretKeys := map[string]string{} // file in the pod -> secret/key
		for _, m := range pod.Containers[0].VolumeMounts {
			v, ok := volumes[m.Name]
			require.True(t, ok, "mount %s has its volume", m.Name)
			if v.Secret == nil {
				continue
			}
			require.True(t, m.ReadOnly)
			require.Equal(t, int32(0o440), *v.Secret.DefaultMode, "readable by the pod's group only")
			for _, item := range v.Secret.Items {
				secretKeys[path.Join(m.MountPath, item.Path)] = v.Secret.SecretName + "/" + item.Key
			}
		}
		require.Equal(t, map[string]string{files[0]: "pg-ca/ca.pem", files[1]: "pg-client/tls.crt", files[2]: "pg-client/tls.key"}, secretKeys)
	}

	// Without a CA the system's roots verify; without a client certificate there is none.
	caOnly := withTLS(&v1alpha1.PostgresTLS{CASecretRef: secretRef("pg-ca", "ca.crt"), CheckHostname: new(false)})
	env = envMap(ServerEnv(caOnly))
	require.Equal(t, "false", env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME"])
	require.NotContains(t, env, "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CERT_FILE")
	require.Len(t, Deployment(caOnly, in).Spec.Template.Spec.Volumes, 2, "scratch and the CA")
	system := withTLS(&v1alpha1.PostgresTLS{})
	require.Equal(t, "true", envMap(ServerEnv(system))["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED"])
	require.NotContains(t, envMap(ServerEnv(system)), "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE")

	// No TLS: no setting, no volume.
	plain := withTLS(nil)
	require.NotContains(t, envMap(ServerEnv(plain)), "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED")
	require.Len(t, Deployment(plain, in).Spec.Template.Spec.Volumes, 1)
}

func envMap(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}

func keyNames(keys []corev1.SecretKeySelector) []string {
	var names []string
	for _, k := range keys {
		names = append(names, k.Name+"/"+k.Key)
	}
	return names
}
