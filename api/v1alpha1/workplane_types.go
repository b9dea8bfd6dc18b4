package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What the resources kept on a Prefect server through its API
// (PrefectWorkPool, PrefectWorkQueue, PrefectDeployment, PrefectAutomation)
// share.

// Deletion policies: what removing the resource does to the Prefect object.
const (
	DeletionPolicyDelete = "Delete"
	DeletionPolicyOrphan = "Orphan"
)

// Condition types of the work-plane resources.
const (
	// ConditionSynced is True when the Prefect object matches the spec.
	ConditionSynced = "Synced"
)

// ServerReference names a Prefect server: a PrefectServer in the same
// namespace, or any server by URL.
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.url)",message="set exactly one of server.name or server.url"
type ServerReference struct {
	// Name of a PrefectServer in this namespace; its URL and credentials are
	// read from it.
	// +optional
	Name string `json:"name,omitempty"`
	// URL of the server's API, e.g. https://prefect.example.com/api.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	URL string `json:"url,omitempty"`
	// AuthSecretRef selects the key of a Secret holding "user:password" for
	// a server at url that requires basic auth.
	// +optional
	AuthSecretRef *corev1.SecretKeySelector `json:"authSecretRef,omitempty"`
}

// SyncStatus is the part of the status every resource kept on a Prefect
// server has.
type SyncStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Synced says whether the object on the server matches the
	// spec, with the reason when it cannot (ServerNotFound, SecretNotFound,
	// Unauthorized, ServerUnavailable, WorkPoolNotFound, DeploymentNotFound,
	// Rejected). Ready says whether it is in use: a worker is ready (work
	// pools), a worker polled it lately (work queues, deployments), it is
	// enabled (automations).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GetSyncStatus is the resource's SyncStatus, for the shared status code.
func (wp *PrefectWorkPool) GetSyncStatus() *SyncStatus { return &wp.Status.SyncStatus }

// GetSyncStatus is the resource's SyncStatus, for the shared status code.
func (q *PrefectWorkQueue) GetSyncStatus() *SyncStatus { return &q.Status.SyncStatus }

// GetSyncStatus is the resource's SyncStatus, for the shared status code.
func (d *PrefectDeployment) GetSyncStatus() *SyncStatus { return &d.Status.SyncStatus }

// GetSyncStatus is the resource's SyncStatus, for the shared status code.
func (a *PrefectAutomation) GetSyncStatus() *SyncStatus { return &a.Status.SyncStatus }
