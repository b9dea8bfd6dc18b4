package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PrefectDeployment is a Prefect deployment on a Prefect server: a flow, where
// its code is, its parameters, the work pool that runs it and its
// schedules, kept as the spec says through the server's API. Schedules are
// matched by slug and changed in place, so the runs already scheduled
// survive every reconcile that changes nothing.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pdep,categories=prefect
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.server.name`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.server.url`,priority=1
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.workPool`
// +kubebuilder:printcolumn:name="Deployment",type=string,JSONPath=`.status.deploymentName`,priority=1
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.deploymentId`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PrefectDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired deployment.
	Spec PrefectDeploymentSpec `json:"spec"`
	// Status is what the operator last observed.
	// +optional
	Status PrefectDeploymentStatus `json:"status,omitempty"`
}

// PrefectDeploymentList is a list of PrefectDeployments.
// +kubebuilder:object:root=true
type PrefectDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PrefectDeployment `json:"items"`
}

// PrefectDeploymentSpec is the desired deployment. Every field the spec has
// is kept on the server: one left unset is cleared there.
type PrefectDeploymentSpec struct {
	// Server is the Prefect server the deployment lives on.
	Server ServerReference `json:"server"`
	// FlowName is the name of the flow the deployment runs (its @flow name);
	// the flow is made on the server if it is not there. Unset means the
	// resource's name. It cannot change.
	// +kubebuilder:validation:Pattern=`^[^/%&><]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="flowName cannot change"
	// +optional
	FlowName string `json:"flowName,omitempty"`
	// Name of the deployment. Unset means the resource's name. It cannot
	// change: flowName/name is the deployment on the server.
	// +kubebuilder:validation:Pattern=`^[^/%&><]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="name cannot change"
	// +optional
	Name string `json:"name,omitempty"`
	// Entrypoint is the flow function, relative to the directory the pull
	// steps leave the worker in: "path/to/file.py:function" or
	// "package.module:function".
	// +optional
	Entrypoint string `json:"entrypoint,omitempty"`
	// PullSteps are Prefect's pull steps, as in the pull section of
	// prefect.yaml (for example a prefect.deployments.steps.git_clone step):
	// how the worker gets the code before it runs the flow. Unset means none.
	// +optional
	PullSteps []apiextensionsv1.JSON `json:"pullSteps,omitempty"`
	// Parameters are the flow's default parameters, a JSON object. With
	// enforceParameterSchema (the default) the server checks them against
	// parameterOpenAPISchema and refuses them when they do not conform
	// (Synced is then False with reason Rejected).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	Parameters *apiextensionsv1.JSON `json:"parameters,omitempty"`
	// ParameterOpenAPISchema is the JSON schema of the flow's parameters, as
	// Prefect writes it for a deployment. Unset means an object schema with
	// no properties, which any parameters conform to.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	ParameterOpenAPISchema *apiextensionsv1.JSON `json:"parameterOpenAPISchema,omitempty"`
	// EnforceParameterSchema has the server check parameters (these, and a
	// run's) against parameterOpenAPISchema.
	// +kubebuilder:default=true
	// +optional
	EnforceParameterSchema *bool `json:"enforceParameterSchema,omitempty"`
	// JobVariables override the work pool's base job template for this
	// deployment's runs (for example image, env, namespace), a JSON object.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	JobVariables *apiextensionsv1.JSON `json:"jobVariables,omitempty"`
	// WorkPool is the name on the server of the work pool whose workers run
	// the deployment. Unset means none: the deployment is served by a
	// process of its own (flow.serve).
	// +kubebuilder:validation:Pattern=`^[^/%&><]+$`
	// +optional
	WorkPool string `json:"workPool,omitempty"`
	// WorkQueue is the queue of the pool the runs go to. Unset means the
	// pool's default queue; a queue that does not exist is made by the
	// server.
	// +kubebuilder:validation:Pattern=`^[^/%&><]+$`
	// +optional
	WorkQueue string `json:"workQueue,omitempty"`
	// Tags of the deployment, which its runs carry.
	// +listType=set
	// +optional
	Tags []string `json:"tags,omitempty"`
	// ConcurrencyLimit bounds the deployment's runs at once; unset means none.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ConcurrencyLimit *int32 `json:"concurrencyLimit,omitempty"`
	// ConcurrencyOptions say what happens to a run that would exceed
	// concurrencyLimit.
	// +optional
	ConcurrencyOptions *ConcurrencyOptions `json:"concurrencyOptions,omitempty"`
	// Paused stops the deployment's schedules and its runs from being taken.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// Description of the deployment.
	// +optional
	Description string `json:"description,omitempty"`
	// Version of the deployment, free text (a git commit, a release).
	// +optional
	Version string `json:"version,omitempty"`
	// Schedules make runs of the deployment. Each is known by its slug: a
	// schedule whose fields change is updated in place (its runs still to
	// come are remade by the scheduler), one added is created, one removed
	// is deleted with its scheduled runs; the others, and their runs, are
	// left alone.
	// +listType=map
	// +listMapKey=slug
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Schedules []DeploymentSchedule `json:"schedules,omitempty"`
	// DeletionPolicy says what removing this resource does to the deployment
	// on the server: Delete (the default) deletes it and its scheduled runs,
	// Orphan leaves it.
	// +kubebuilder:validation:Enum=Delete;Orphan
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// ConcurrencyOptions say what happens to a run over the concurrency limit.
type ConcurrencyOptions struct {
	// CollisionStrategy: ENQUEUE (the default) waits for a slot, CANCEL_NEW
	// cancels the new run.
	// +kubebuilder:validation:Enum=ENQUEUE;CANCEL_NEW
	// +kubebuilder:default=ENQUEUE
	// +optional
	CollisionStrategy string `json:"collisionStrategy,omitempty"`
}

// DeploymentSchedule is one schedule of a deployment: exactly one of cron,
// interval or rrule.
// +kubebuilder:validation:XValidation:rule="[has(self.cron), has(self.interval), has(self.rrule)].filter(x, x).size() == 1",message="set exactly one of cron, interval or rrule"
// +kubebuilder:validation:XValidation:rule="!has(self.dayOr) || has(self.cron)",message="dayOr applies to cron schedules only"
// +kubebuilder:validation:XValidation:rule="!has(self.anchorDate) || has(self.interval)",message="anchorDate applies to interval schedules only"
type DeploymentSchedule struct {
	// Slug names the schedule within the deployment; the operator finds the
	// schedule on the server by it. Renaming a slug replaces the schedule.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	Slug string `json:"slug"`
	// Cron is a cron expression ("0 6 * * 1-5"), or a macro such as @daily.
	// +optional
	Cron string `json:"cron,omitempty"`
	// DayOr (cron only) joins the day-of-month and day-of-week fields with
	// OR, as cron does (the default); false joins them with AND.
	// +optional
	DayOr *bool `json:"dayOr,omitempty"`
	// Interval between runs: a number of seconds, or a duration such as
	// "1h30m".
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self > 0 : duration(self) > duration('0s')",message="interval must be a positive number of seconds or a duration such as 1h30m"
	// +optional
	Interval *intstr.IntOrString `json:"interval,omitempty"`
	// AnchorDate (interval only) is when the intervals are counted from.
	// Unset means the time the schedule is created, which the server keeps.
	// +optional
	AnchorDate *metav1.Time `json:"anchorDate,omitempty"`
	// RRule is an iCalendar (RFC 5545) recurrence rule, e.g.
	// "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9".
	// +optional
	RRule string `json:"rrule,omitempty"`
	// Timezone is the IANA zone the schedule is read in
	// (America/New_York); unset means UTC.
	// +optional
	Timezone string `json:"timezone,omitempty"`
	// Active schedules make runs; an inactive one is kept but makes none.
	// +kubebuilder:default=true
	// +optional
	Active *bool `json:"active,omitempty"`
	// Parameters the schedule's runs take over the deployment's, a JSON object.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	Parameters *apiextensionsv1.JSON `json:"parameters,omitempty"`
	// MaxScheduledRuns bounds the runs the scheduler keeps ahead for this
	// schedule. Unset leaves the server's value (the server's own bound when
	// it never had one): Prefect cannot clear it once set.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxScheduledRuns *int32 `json:"maxScheduledRuns,omitempty"`
}

// PrefectDeploymentStatus is what the operator last observed.
type PrefectDeploymentStatus struct {
	SyncStatus `json:",inline"`
	// DeploymentID is the deployment's id on the server.
	// +optional
	DeploymentID string `json:"deploymentId,omitempty"`
	// DeploymentName is the deployment's full name on the server, flow/name,
	// as `prefect deployment run` takes it.
	// +optional
	DeploymentName string `json:"deploymentName,omitempty"`
	// FlowID is the id of the deployment's flow on the server.
	// +optional
	FlowID string `json:"flowId,omitempty"`
}
