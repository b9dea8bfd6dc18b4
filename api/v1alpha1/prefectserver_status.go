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
	// ConditionExposed is True when the Ingress and HTTPRoute the spec asks
	// for are applied, False when one cannot be (the Gateway API's CRDs are
	// not installed); absent when the spec asks for neither.
	ConditionExposed = "Exposed"
	// ConditionMonitoring is True when the ServiceMonitor (or PodMonitor) and
	// PrometheusRule that spec.monitoring asks for are applied, False when
	// one cannot be (the prometheus-operator's CRDs are not installed);
	// absent when monitoring is not enabled.
	ConditionMonitoring = "Monitoring"
	// ConditionBackedUp says how the latest backup Job ended: True when it
	// succeeded (status.lastBackup names the file), False when it failed;
	// absent without spec.backup.
	ConditionBackedUp = "BackedUp"
	// ConditionRunsHealthy is True when the last canary took a flow run
	// through the server's API from creation to Completed and deleted it,
	// False with the failing step as reason; absent while the canary is off.
	ConditionRunsHealthy = "RunsHealthy"
)

// PrefectServerStatus is what the operator last observed.
type PrefectServerStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Progressing, Degraded, DatabaseMigrated, BackgroundJobs, Exposed, Monitoring, BackedUp, RunsHealthy.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ReadyReplicas is the number of server pods ready to serve.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// URL is the API's in-cluster URL, through the Service
	// (http://<name>.<namespace>.svc:<port>/api): what clients in the cluster
	// set as PREFECT_API_URL, exposed or not.
	// +optional
	URL string `json:"url,omitempty"`
	// UIURL is where a browser opens the web UI: the Ingress's URL
	// (https://<host>/ with TLS) or the HTTPRoute's when the server is
	// exposed, else the Service's, which only pods resolve: from a machine
	// outside the cluster, `kubectl port-forward svc/<name> 4200:<port>`
	// and open http://localhost:4200/ (the UI needs no setting for that).
	// +optional
	UIURL string `json:"uiUrl,omitempty"`
	// Version is the Prefect server version the pods run.
	// +optional
	Version string `json:"version,omitempty"`
	// Storage is the kind of storage in use: ephemeral, sqlite or postgres.
	// +optional
	Storage string `json:"storage,omitempty"`
	// Canary is what the last canary saw; absent while spec.canary is off.
	// +optional
	Canary *CanaryStatus `json:"canary,omitempty"`
	// LastBackup is the latest successful backup (spec.backup), as the
	// backup Job's pod reported it in its termination message.
	// +optional
	LastBackup *BackupStatus `json:"lastBackup,omitempty"`
}

// BackupStatus describes one backup file.
type BackupStatus struct {
	// File is the backup's path on the volume claim, what
	// storage.sqlite.restoreFrom takes: <server>/prefect-<UTC time>.db.
	// +optional
	File string `json:"file,omitempty"`
	// VolumeClaimName is the claim holding it.
	// +optional
	VolumeClaimName string `json:"volumeClaimName,omitempty"`
	// Time is when the copy was taken: it holds every write committed before.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// SizeBytes is the size of the file.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// Job is the Job that made it.
	// +optional
	Job string `json:"job,omitempty"`
}
