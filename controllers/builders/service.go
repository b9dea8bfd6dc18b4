package builders

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// Service exposes the API of the server pods at APIURL.
func Service(ps *v1alpha1.PrefectServer) *corev1.Service {
	typ := ps.Spec.Service.Type
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ServiceName(ps), Namespace: ps.Namespace, Labels: Labels(ps),
			Annotations: maps.Clone(ps.Spec.Service.Annotations),
		},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: SelectorLabels(ps),
			Ports: []corev1.ServicePort{{
				Name: PortName, Port: servicePort(ps), TargetPort: intstr.FromString(PortName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}
