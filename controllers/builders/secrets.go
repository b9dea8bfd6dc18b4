package builders

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// ReferencedSecrets names the Secrets whose data the server reads:
// api.authSecretRef, the PostgreSQL password or URL, secretKeyRefs in
// spec.extraEnv, and the PostgreSQL TLS files; sorted, without duplicates.
// Their data feeds ConfigHash. Image pull secrets are not among them: the kubelet
// reads those, and a new pull secret needs no new pod.
func ReferencedSecrets(ps *v1alpha1.PrefectServer) []string {
	var names []string
	for _, e := range ServerEnv(ps) {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			names = append(names, e.ValueFrom.SecretKeyRef.Name)
		}
	}
	if t := postgresTLS(ps); t != nil {
		for _, k := range postgresTLSKeys(t) {
			names = append(names, k.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// RequiredSecretKeys are the Secret keys the pods cannot start without: the
// environment's non-optional secretKeyRefs and the PostgreSQL TLS files.
func RequiredSecretKeys(ps *v1alpha1.PrefectServer) []corev1.SecretKeySelector {
	var keys []corev1.SecretKeySelector
	for _, e := range ServerEnv(ps) {
		ref := e.ValueFrom
		if ref != nil && ref.SecretKeyRef != nil && (ref.SecretKeyRef.Optional == nil || !*ref.SecretKeyRef.Optional) {
			keys = append(keys, *ref.SecretKeyRef)
		}
	}
	if t := postgresTLS(ps); t != nil {
		keys = append(keys, postgresTLSKeys(t)...)
	}
	return keys
}
