// Package v1alpha1 holds the PrefectServer API: a Prefect server, its storage
// and its settings, as one Kubernetes resource. The doc comments here are
// what `kubectl explain prefectserver` shows.
// +kubebuilder:object:generate=true
// +groupName=prefectgo.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of PrefectServer.
	GroupVersion = schema.GroupVersion{Group: "prefectgo.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group version.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers every kind of this group version.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &PrefectServer{}, &PrefectServerList{}, &PrefectWorkPool{}, &PrefectWorkPoolList{},
		&PrefectWorkQueue{}, &PrefectWorkQueueList{}, &PrefectDeployment{}, &PrefectDeploymentList{},
		&PrefectAutomation{}, &PrefectAutomationList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
