package builders

import (
	"slices"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// ReferencedSecrets names the Secrets whose data the server's environment
// reads: api.authSecretRef, the PostgreSQL password or URL, and
// secretKeyRefs in spec.extraEnv; sorted, without duplicates. Their data
// feeds ConfigHash. Image pull secrets are not among them: the kubelet
// reads those, and a new pull secret needs no new pod.
func ReferencedSecrets(ps *v1alpha1.PrefectServer) []string {
	var names []string
	for _, e := range ServerEnv(ps) {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			names = append(names, e.ValueFrom.SecretKeyRef.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
