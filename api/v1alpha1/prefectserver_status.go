package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition types of a PrefectServer.
const (
	// ConditionReady is True when the API answers on its Service.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout or migration is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when something needs a human: a failed
	// migration, a missing Secret.
	ConditionDegraded = "Degraded"
	// ConditionDatabaseMigrated is True when the database schema matches the
	// server version (PostgreSQL: the migration Job succeeded).
	ConditionDatabaseMigrated = "DatabaseMigrated"
	// ConditionBackgroundJobs says where retention and scheduling run: in
	// CronJobs, or in process (ephemeral storage).
	ConditionBackgroundJobs = "BackgroundJobs"
)

// PrefectServerStatus is what the operator last observed.
type PrefectServerStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Progressing, Degraded, DatabaseMigrated, BackgroundJobs.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ReadyReplicas is the number of server pods ready to serve.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// URL is the in-cluster API URL clients set as PREFECT_API_URL.
	// +optional
	URL string `json:"url,omitempty"`
	// Version is the Prefect server version the pods run.
	// +optional
	Version string `json:"version,omitempty"`
	// Storage is the kind of storage in use: ephemeral, sqlite or postgres.
	// +optional
	Storage string `json:"storage,omitempty"`
}
