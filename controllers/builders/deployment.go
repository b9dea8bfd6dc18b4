package builders

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// Deployment runs `prefect-server serve`. SQLite and ephemeral storage live
// in one pod, so it is recreated rather than rolled; with PostgreSQL the new
// pods are ready before old ones go.
func Deployment(ps *v1alpha1.PrefectServer, in Inputs) *appsv1.Deployment {
	c := container(ps, in, ContainerName, "serve")
	c.Ports = []corev1.ContainerPort{
		{Name: PortName, ContainerPort: apiPort(ps), Protocol: corev1.ProtocolTCP},
		{Name: ProbePortName, ContainerPort: probePort(ps), Protocol: corev1.ProtocolTCP},
	}
	// The probes have a listener of their own: on the API port, slow or idle
	// clients holding every connection would fail them and get the pod killed.
	c.StartupProbe = probe("/ready", 2, 90) // up to 3 minutes: SQLite migrates at start
	c.ReadinessProbe = probe("/ready", 10, 3)
	c.LivenessProbe = probe("/health", 20, 3)

	strategy := appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if StorageKind(ps) == StoragePostgres {
		// Explicit, so the operator owns these fields under server-side apply
		// and they go away again if the strategy changes to Recreate.
		strategy = appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: new(intstr.FromInt32(0)),
				MaxSurge:       new(intstr.FromString("25%")),
			},
		}
	}

	pod := podSpec(ps, c)
	pod.TopologySpreadConstraints = topologySpread(ps)
	if restore := restoreContainer(ps, in); restore != nil {
		pod.InitContainers = []corev1.Container{*restore}
		pod.Volumes = append(pod.Volumes, backupClaimVolume(ps, true))
	}

	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: DeploymentName(ps), Namespace: ps.Namespace, Labels: Labels(ps)},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(Replicas(ps)),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      Labels(ps),
					Annotations: map[string]string{ConfigHashAnnotation: ConfigHash(ps, in)},
				},
				Spec: pod,
			},
		},
	}
}

func probe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: APIBasePath + path, Port: intstr.FromString(ProbePortName), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds:    period,
		TimeoutSeconds:   5,
		FailureThreshold: failures,
	}
}
