package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrefectWorkPool is a Prefect work pool on a Prefect server, kept as the
// spec says through the server's API, and the workers that take its runs:
// a Deployment running `prefect worker start`, with a ServiceAccount and the
// RBAC a Kubernetes worker needs to run flow runs as Jobs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pwp,categories=prefect
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.status.poolName`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Workers",type=integer,JSONPath=`.status.readyWorkers`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 50",message="the name may be at most 50 characters: the worker objects made from it must stay within Kubernetes' name limits"
type PrefectWorkPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired work pool and its workers.
	Spec PrefectWorkPoolSpec `json:"spec"`
	// Status is what the operator last observed.
	// +optional
	Status PrefectWorkPoolStatus `json:"status,omitempty"`
}

// PrefectWorkPoolList is a list of PrefectWorkPools.
// +kubebuilder:object:root=true
type PrefectWorkPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PrefectWorkPool `json:"items"`
}

// PrefectWorkPoolSpec is the desired work pool.
// +kubebuilder:validation:XValidation:rule="!(has(self.baseJobTemplate) && has(self.baseJobTemplateFrom))",message="set at most one of baseJobTemplate and baseJobTemplateFrom"
type PrefectWorkPoolSpec struct {
	// Server is the Prefect server the pool lives on.
	Server ServerReference `json:"server"`
	// Name of the work pool on the server. Unset means the resource's name.
	// It cannot change: a new name would be another pool.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="name cannot change"
	// +kubebuilder:validation:Pattern=`^[^/%&><]+$`
	// +optional
	Name string `json:"name,omitempty"`
	// Type is the kind of worker that serves the pool: kubernetes (flow runs
	// as Kubernetes Jobs), process, or any type a worker image provides. It
	// cannot change once the pool exists, as in Prefect.
	// +kubebuilder:default=kubernetes
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type cannot change"
	// +optional
	Type string `json:"type,omitempty"`
	// Description of the pool.
	// +optional
	Description string `json:"description,omitempty"`
	// BaseJobTemplate is the pool's base job template, as Prefect's JSON
	// (job_configuration and variables). Unset, with baseJobTemplateFrom
	// unset too, means the default the server lists for the pool's type when
	// baseJobTemplatePatches are given, else the server's, which a worker
	// fills with its type's default.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	BaseJobTemplate *apiextensionsv1.JSON `json:"baseJobTemplate,omitempty"`
	// BaseJobTemplateFrom reads the base job template from a key of a
	// ConfigMap in this namespace instead (a JSON document, as
	// baseJobTemplate); a change to it is applied to the pool.
	// +optional
	BaseJobTemplateFrom *corev1.ConfigMapKeySelector `json:"baseJobTemplateFrom,omitempty"`
	// BaseJobTemplatePatches are JSON Patch operations (RFC 6902) applied in
	// order to the base job template: baseJobTemplate's or
	// baseJobTemplateFrom's, or, when neither is set, the default the server
	// lists for the pool's type (its collection views), so a pool can change
	// one thing of Prefect's default, e.g.
	// {op: add, path: /variables/properties/image/default, value: my/image:1}.
	// +optional
	BaseJobTemplatePatches []JSONPatchOperation `json:"baseJobTemplatePatches,omitempty"`
	// ConcurrencyLimit bounds the pool's runs at once; unset means none.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ConcurrencyLimit *int32 `json:"concurrencyLimit,omitempty"`
	// Paused stops workers from taking the pool's runs.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// Workers run `prefect worker start` for the pool.
	// +kubebuilder:default={}
	// +optional
	Workers WorkersSpec `json:"workers,omitzero"`
	// DeletionPolicy says what removing this resource does to the pool on the
	// server: Delete (the default) deletes it, Orphan leaves it.
	// +kubebuilder:validation:Enum=Delete;Orphan
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// JSONPatchOperation is one operation of a JSON Patch (RFC 6902).
// +kubebuilder:validation:XValidation:rule="self.op in ['move', 'copy'] ? has(self.from) : true",message="move and copy need from"
type JSONPatchOperation struct {
	// Op is the operation.
	// +kubebuilder:validation:Enum=add;remove;replace;move;copy;test
	Op string `json:"op"`
	// Path is the JSON Pointer (RFC 6901) the operation acts on.
	// +kubebuilder:validation:Pattern=`^(/.*)?$`
	Path string `json:"path"`
	// From is the JSON Pointer a move or copy takes its value from.
	// +optional
	From string `json:"from,omitempty"`
	// Value is the value of an add, replace or test: any JSON. (CEL cannot
	// see a field of any type, so one missing is found when the patch is
	// applied: Synced False, reason InvalidTemplate.)
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Value *apiextensionsv1.JSON `json:"value,omitempty"`
}

// WorkersSpec is the workers' Deployment.
type WorkersSpec struct {
	// Replicas is the number of worker pods; 0 runs none.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Image runs the worker. Unset means Prefect's official image of the
	// pinned version with the worker type's integration
	// (prefecthq/prefect:3.9.1-python3.12-kubernetes for kubernetes,
	// prefecthq/prefect:3.9.1-python3.12 otherwise).
	// +optional
	Image string `json:"image,omitempty"`
	// ImagePullPolicy of the worker container.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// JobNamespaces are the namespaces the workers may run flow-run Jobs in
	// (kubernetes pools): a Role and RoleBinding are made in each. Unset
	// means the resource's namespace.
	// +optional
	JobNamespaces []string `json:"jobNamespaces,omitempty"`
	// FlowRunServiceAccountName is the ServiceAccount flow-run pods run as
	// (kubernetes pools): the default of the base job template's
	// service_account_name, where the template leaves it without one. Unset,
	// the operator makes <resource name>-flow-run in each job namespace,
	// bound to no Role and mounting no token, so flow code gets no access to
	// the Kubernetes API unless you grant it; named, the ServiceAccount is
	// yours and the operator neither makes nor changes it.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	FlowRunServiceAccountName string `json:"flowRunServiceAccountName,omitempty"`
	// ExtraEnv is added to the worker container.
	// +optional
	ExtraEnv []corev1.EnvVar `json:"extraEnv,omitempty"`
	// Resources of the worker container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
	// NodeSelector of the worker pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the worker pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity of the worker pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// ImagePullSecrets for the worker image.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// PrefectWorkPoolStatus is what the operator last observed.
type PrefectWorkPoolStatus struct {
	SyncStatus `json:",inline"`
	// PoolID is the work pool's id on the server.
	// +optional
	PoolID string `json:"poolId,omitempty"`
	// PoolName is the work pool's name on the server.
	// +optional
	PoolName string `json:"poolName,omitempty"`
	// ReadyWorkers is the number of worker pods ready.
	// +optional
	ReadyWorkers int32 `json:"readyWorkers,omitempty"`
}
