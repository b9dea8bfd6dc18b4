package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrefectWorkQueue is a work queue of a work pool on a Prefect server, kept
// as the spec says through the server's API. A queue that already exists
// (the pool's default queue, one made in the UI) is adopted.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pwq,categories=prefect
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.server.name`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.server.url`,priority=1
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.workPool`
// +kubebuilder:printcolumn:name="Queue",type=string,JSONPath=`.status.queueName`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.queueId`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PrefectWorkQueue struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired work queue.
	Spec PrefectWorkQueueSpec `json:"spec"`
	// Status is what the operator last observed.
	// +optional
	Status PrefectWorkQueueStatus `json:"status,omitempty"`
}

// PrefectWorkQueueList is a list of PrefectWorkQueues.
// +kubebuilder:object:root=true
type PrefectWorkQueueList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PrefectWorkQueue `json:"items"`
}

// PrefectWorkQueueSpec is the desired work queue.
type PrefectWorkQueueSpec struct {
	// Server is the Prefect server the queue lives on.
	Server ServerReference `json:"server"`
	// WorkPool is the name on the server of the pool the queue belongs to (a
	// PrefectWorkPool's pool, or any other). It cannot change: the queue of
	// another pool is another queue.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[^/%&><]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="workPool cannot change"
	WorkPool string `json:"workPool"`
	// Name of the queue in the pool. Unset means the resource's name. It
	// cannot change. "default" is the pool's default queue, which is adopted
	// and never deleted.
	// +kubebuilder:validation:Pattern=`^[^/%&><]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="name cannot change"
	// +optional
	Name string `json:"name,omitempty"`
	// Priority orders the pool's queues: workers take runs from the queue
	// with the lowest number first (1 is the highest priority). Unset leaves
	// the server's: a new queue comes after the pool's others.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Priority *int32 `json:"priority,omitempty"`
	// ConcurrencyLimit bounds the queue's runs at once; unset means none.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ConcurrencyLimit *int32 `json:"concurrencyLimit,omitempty"`
	// Paused stops workers from taking the queue's runs.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// Description of the queue.
	// +optional
	Description string `json:"description,omitempty"`
	// DeletionPolicy says what removing this resource does to the queue on
	// the server: Delete (the default) deletes it if this resource created
	// it (status.created), never a queue it adopted nor the pool's default
	// queue; Orphan leaves it.
	// +kubebuilder:validation:Enum=Delete;Orphan
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// PrefectWorkQueueStatus is what the operator last observed.
type PrefectWorkQueueStatus struct {
	SyncStatus `json:",inline"`
	// QueueID is the work queue's id on the server.
	// +optional
	QueueID string `json:"queueId,omitempty"`
	// QueueName is the work queue's name on the server.
	// +optional
	QueueName string `json:"queueName,omitempty"`
	// Created is true when this resource created the queue; false when the
	// queue already existed and was adopted. Only a created queue is deleted
	// with the resource.
	// +optional
	Created bool `json:"created,omitempty"`
}
