package builders

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// Volume names.
const (
	dataVolume    = "data"
	scratchVolume = "scratch"
)

// container is a prefect-server container running subcommand, with the
// server's image, environment, resources and security context.
func container(ps *v1alpha1.PrefectServer, in Inputs, name, subcommand string) corev1.Container {
	c := corev1.Container{
		Name:            name,
		Image:           image(ps, in),
		Command:         []string{ServerBinary, subcommand},
		Env:             ServerEnv(ps),
		Resources:       *ps.Spec.Resources.DeepCopy(),
		SecurityContext: containerSecurityContext(ps),
		VolumeMounts:    []corev1.VolumeMount{{Name: scratchVolume, MountPath: ScratchDir}},
	}
	if StorageKind(ps) == StorageSQLite {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: dataVolume, MountPath: DataDir})
	}
	if t := postgresTLS(ps); t != nil {
		_, mounts := postgresTLSVolumes(t)
		c.VolumeMounts = append(c.VolumeMounts, mounts...)
	}
	return c
}

// podSpec holds c with the volumes it mounts and the spec's scheduling,
// identity and security settings.
func podSpec(ps *v1alpha1.PrefectServer, c corev1.Container) corev1.PodSpec {
	spec := corev1.PodSpec{
		Containers:         []corev1.Container{c},
		ServiceAccountName: ps.Spec.ServiceAccountName,
		// The server never calls the Kubernetes API.
		AutomountServiceAccountToken: new(false),
		// Service links would put variables such as PREFECT_SERVER_API_PORT
		// into the environment when a Service is named prefect-server-api.
		EnableServiceLinks: new(false),
		SecurityContext:    podSecurityContext(ps),
		NodeSelector:       maps.Clone(ps.Spec.NodeSelector),
		ImagePullSecrets:   slices.Clone(ps.Spec.ImagePullSecrets),
		Affinity:           ps.Spec.Affinity.DeepCopy(),
		Volumes: []corev1.Volume{{
			Name:         scratchVolume,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		}},
	}
	for _, t := range ps.Spec.Tolerations {
		spec.Tolerations = append(spec.Tolerations, *t.DeepCopy())
	}
	if StorageKind(ps) == StorageSQLite {
		spec.Volumes = append(spec.Volumes, corev1.Volume{
			Name: dataVolume,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: PVCName(ps),
			}},
		})
	}
	if t := postgresTLS(ps); t != nil {
		volumes, _ := postgresTLSVolumes(t)
		spec.Volumes = append(spec.Volumes, volumes...)
	}
	return spec
}

// podSecurityContext is spec.podSecurityContext, or else non-root with
// seccomp, and fsGroup so the volume is writable.
func podSecurityContext(ps *v1alpha1.PrefectServer) *corev1.PodSecurityContext {
	if ps.Spec.PodSecurityContext != nil {
		return ps.Spec.PodSecurityContext.DeepCopy()
	}
	policy := corev1.FSGroupChangeOnRootMismatch
	return &corev1.PodSecurityContext{
		RunAsNonRoot:        new(true),
		RunAsUser:           new(NonRootID),
		RunAsGroup:          new(NonRootID),
		FSGroup:             new(NonRootID),
		FSGroupChangePolicy: &policy,
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// containerSecurityContext is spec.securityContext, or else the restricted
// Pod Security Standard with a read-only root filesystem.
func containerSecurityContext(ps *v1alpha1.PrefectServer) *corev1.SecurityContext {
	if ps.Spec.SecurityContext != nil {
		return ps.Spec.SecurityContext.DeepCopy()
	}
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   new(true),
	}
}
