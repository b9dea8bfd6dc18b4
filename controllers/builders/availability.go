package builders

import (
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// Suspended says the spec hibernates the server.
func Suspended(ps *v1alpha1.PrefectServer) bool {
	return ps.Spec.Suspend != nil && *ps.Spec.Suspend
}

// Replicas is how many server pods the spec asks for: none while suspended.
func Replicas(ps *v1alpha1.PrefectServer) int32 {
	if Suspended(ps) {
		return 0
	}
	return orDefault(ps.Spec.Replicas, defaultReplicas)
}

// PodDisruptionBudgetName names the server pods' PodDisruptionBudget.
func PodDisruptionBudgetName(ps *v1alpha1.PrefectServer) string { return ps.Name }

// PodDisruptionBudget keeps all but one server pod up through voluntary
// disruptions (a node drain, a cluster upgrade) when there is more than one;
// nil otherwise, since a budget for a single pod would block every drain.
func PodDisruptionBudget(ps *v1alpha1.PrefectServer) *policyv1.PodDisruptionBudget {
	if Replicas(ps) <= 1 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{Name: PodDisruptionBudgetName(ps), Namespace: ps.Namespace, Labels: Labels(ps)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: new(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
		},
	}
}

// topologySpread is the spec's constraints or, for several replicas, a
// spread across nodes that the scheduler may break when it must.
func topologySpread(ps *v1alpha1.PrefectServer) []corev1.TopologySpreadConstraint {
	if ps.Spec.TopologySpreadConstraints != nil {
		out := make([]corev1.TopologySpreadConstraint, len(ps.Spec.TopologySpreadConstraints))
		for i := range ps.Spec.TopologySpreadConstraints {
			ps.Spec.TopologySpreadConstraints[i].DeepCopyInto(&out[i])
		}
		return out
	}
	if orDefault(ps.Spec.Replicas, defaultReplicas) <= 1 {
		return nil
	}
	return []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       corev1.LabelHostname,
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
	}}
}
