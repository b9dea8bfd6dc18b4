package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrefectAutomation is an automation on a Prefect server: a trigger (events
// that happen, or fail to happen) and the actions taken when it fires, kept
// as the spec says through the server's API. The trigger and the actions
// are Prefect's own JSON, as `prefect automation inspect --json` shows them;
// an action may name its deployment by flow/deployment (deploymentName)
// instead of by id.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pauto,categories=prefect
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.server.name`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.server.url`,priority=1
// +kubebuilder:printcolumn:name="Name",type=string,JSONPath=`.status.automationName`
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.spec.enabled`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.automationId`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PrefectAutomation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired automation.
	Spec PrefectAutomationSpec `json:"spec"`
	// Status is what the operator last observed.
	// +optional
	Status PrefectAutomationStatus `json:"status,omitempty"`
}

// PrefectAutomationList is a list of PrefectAutomations.
// +kubebuilder:object:root=true
type PrefectAutomationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PrefectAutomation `json:"items"`
}

// PrefectAutomationSpec is the desired automation. Every field is kept on
// the server: one left unset is cleared there (what the trigger and the
// actions leave out takes Prefect's defaults).
// +kubebuilder:validation:XValidation:rule="(has(self.actions) && self.actions.size() > 0) || (has(self.actionsOnTrigger) && self.actionsOnTrigger.size() > 0) || (has(self.actionsOnResolve) && self.actionsOnResolve.size() > 0)",message="give at least one action: actions, actionsOnTrigger or actionsOnResolve"
type PrefectAutomationSpec struct {
	// Server is the Prefect server the automation lives on.
	Server ServerReference `json:"server"`
	// Name of the automation on the server, by which the operator finds it
	// until it has recorded its id (status.automationId); unset means the
	// resource's name. Renaming renames the automation recorded.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Name string `json:"name,omitempty"`
	// Description of the automation.
	// +optional
	Description string `json:"description,omitempty"`
	// Enabled automations are evaluated; a disabled one is kept but never
	// fires.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Trigger is Prefect's trigger, a JSON object: an event trigger
	// ({type: event, posture: Reactive or Proactive, expect, after, match,
	// match_related, for_each, threshold, within in seconds}) or a compound
	// or sequence trigger of others ({type: compound, triggers, require,
	// within}). An event trigger needs its posture, a compound or sequence
	// trigger its within; what else it leaves out takes Prefect's defaults.
	// The server checks it: one it refuses leaves Synced False with reason
	// Rejected and the server's message.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Trigger apiextensionsv1.JSON `json:"trigger"`
	// Actions are taken when the trigger fires, in order: Prefect's actions
	// as JSON objects, e.g. {type: cancel-flow-run}, {type: run-deployment,
	// deployment_id: ..., parameters: {...}}, {type: call-webhook,
	// block_document_id: ...}. An action on a deployment (run-deployment,
	// pause-deployment, resume-deployment) may name it by deploymentName,
	// "<flow>/<deployment>", instead of deployment_id: the operator finds
	// its id on the server, and waits (Synced False, reason
	// DeploymentNotFound) while it is not there.
	// +kubebuilder:validation:items:Type=object
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Actions []apiextensionsv1.JSON `json:"actions,omitempty"`
	// ActionsOnTrigger are taken when the automation enters its triggered
	// state, as actions are.
	// +kubebuilder:validation:items:Type=object
	// +kubebuilder:validation:MaxItems=50
	// +optional
	ActionsOnTrigger []apiextensionsv1.JSON `json:"actionsOnTrigger,omitempty"`
	// ActionsOnResolve are taken when the automation resolves (a proactive
	// trigger's expected events arrive again), as actions are.
	// +kubebuilder:validation:items:Type=object
	// +kubebuilder:validation:MaxItems=50
	// +optional
	ActionsOnResolve []apiextensionsv1.JSON `json:"actionsOnResolve,omitempty"`
	// Tags of the automation.
	// +listType=set
	// +optional
	Tags []string `json:"tags,omitempty"`
	// DeletionPolicy says what removing this resource does to the automation
	// on the server: Delete (the default) deletes it, Orphan leaves it.
	// +kubebuilder:validation:Enum=Delete;Orphan
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// PrefectAutomationStatus is what the operator last observed.
type PrefectAutomationStatus struct {
	SyncStatus `json:",inline"`
	// AutomationID is the automation's id on the server; the operator finds
	// the automation by it first, then by name.
	// +optional
	AutomationID string `json:"automationId,omitempty"`
	// AutomationName is the automation's name on the server.
	// +optional
	AutomationName string `json:"automationName,omitempty"`
}
