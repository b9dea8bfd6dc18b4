// Package v1alpha1 holds the PrefectServer API: a Prefect server, its storage
// and its settings, as one Kubernetes resource. The doc comments here are
// what `kubectl explain prefectserver` shows.
// +kubebuilder:object:generate=true
// +groupName=prefectgo.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of PrefectServer.
	GroupVersion = schema.GroupVersion{Group: "prefectgo.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group version.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
