package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrefectServer runs a Prefect 3 server: the API Deployment and its Service,
// its storage (a SQLite volume, or a PostgreSQL database), a migration Job for
// PostgreSQL, and CronJobs for event retention, deployment scheduling and
// (SQLite, when asked) backups.
// The spec's settings groups mirror the server's settings table: every field
// becomes the Prefect environment variable of the same name and default.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pfs,categories=prefect
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Storage",type=string,JSONPath=`.status.storage`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="UI",type=string,JSONPath=`.status.uiUrl`
// +kubebuilder:printcolumn:name="Last Backup",type=date,JSONPath=`.status.lastBackup.time`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 42",message="the name may be at most 42 characters: the CronJobs and Jobs made from it must stay within Kubernetes' name limits"
type PrefectServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired server.
	// +kubebuilder:default={}
	Spec PrefectServerSpec `json:"spec,omitzero"`
	// Status is what the operator last observed.
	// +optional
	Status PrefectServerStatus `json:"status,omitempty"`
}

// PrefectServerList is a list of PrefectServers.
// +kubebuilder:object:root=true
type PrefectServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PrefectServer `json:"items"`
}

// PrefectServerSpec is the desired Prefect server.
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || has(self.storage.postgres)",message="more than one replica needs PostgreSQL storage: SQLite and ephemeral storage live in a single pod"
// +kubebuilder:validation:XValidation:rule="!has(self.monitoring) || !self.monitoring.enabled || !has(self.api) || !has(self.api.authSecretRef) || has(self.monitoring.basicAuth)",message="api.authSecretRef puts /api/metrics behind basic auth: set monitoring.basicAuth so Prometheus can scrape it"
// +kubebuilder:validation:XValidation:rule="!has(self.backup) || !has(self.storage.postgres)",message="spec.backup backs up SQLite storage only: back PostgreSQL up with its own tools, CloudNativePG's backups or pg_dump"
// +kubebuilder:validation:XValidation:rule="!has(self.backup) || !has(self.storage.ephemeral)",message="spec.backup needs SQLite storage: ephemeral storage keeps nothing to back up"
// +kubebuilder:validation:XValidation:rule="!has(self.storage) || !has(self.storage.sqlite) || !has(self.storage.sqlite.restoreFrom) || has(self.backup)",message="storage.sqlite.restoreFrom names a file on the backup claim: set spec.backup (its volumeClaimName is the claim holding the file)"
type PrefectServerSpec struct {
	// Image is the container image running prefect-server. Unset means the
	// image of the operator itself, which bundles the server of the same version.
	// +optional
	Image string `json:"image,omitempty"`
	// Replicas is the number of API server pods; more than one needs PostgreSQL.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Suspend hibernates the server: its pods are scaled to zero and its
	// CronJobs suspended, while its data, Services and exposure stay; false
	// (or unset) brings it back as it was.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
	// Storage is where the server keeps its data: exactly one of ephemeral,
	// sqlite or postgres. Unset means SQLite on a persistent volume.
	// +kubebuilder:default={sqlite:{}}
	// +optional
	Storage Storage `json:"storage,omitzero"`

	// API holds the HTTP server's settings (PREFECT_SERVER_API_*).
	// +kubebuilder:default={}
	// +optional
	API APISettings `json:"api,omitzero"`
	// Database holds the connection pool and timeout settings
	// (PREFECT_SERVER_DATABASE_*); where the database is comes from storage.
	// +kubebuilder:default={}
	// +optional
	Database DatabaseSettings `json:"database,omitzero"`
	// Events holds the event limits and retention (PREFECT_SERVER_EVENTS_*).
	// +kubebuilder:default={}
	// +optional
	Events EventSettings `json:"events,omitzero"`
	// Logging holds the server's log level.
	// +kubebuilder:default={}
	// +optional
	Logging LoggingSettings `json:"logging,omitzero"`
	// Deployments holds deployment scheduling and concurrency settings.
	// +kubebuilder:default={}
	// +optional
	Deployments DeploymentSettings `json:"deployments,omitzero"`
	// Tasks holds task-run settings (PREFECT_SERVER_TASKS_*).
	// +kubebuilder:default={}
	// +optional
	Tasks TaskSettings `json:"tasks,omitzero"`
	// Concurrency holds concurrency-limit lease settings.
	// +kubebuilder:default={}
	// +optional
	Concurrency ConcurrencySettings `json:"concurrency,omitzero"`
	// FlowRunGraph bounds the run graph the UI draws.
	// +kubebuilder:default={}
	// +optional
	FlowRunGraph FlowRunGraphSettings `json:"flowRunGraph,omitzero"`
	// Logs holds the log streaming settings (PREFECT_SERVER_LOGS_*).
	// +kubebuilder:default={}
	// +optional
	Logs LogsSettings `json:"logs,omitzero"`
	// UI holds the web UI settings (PREFECT_SERVER_UI_*).
	// +kubebuilder:default={}
	// +optional
	UI UISettings `json:"ui,omitzero"`
	// Services switches the server's background services on and off and tunes
	// them (PREFECT_SERVER_SERVICES_*). Where a CronJob does a service's work
	// (retention, scheduling), the operator turns the in-process one off.
	// +kubebuilder:default={}
	// +optional
	Services ServiceSettings `json:"services,omitzero"`
	// MetricsEnabled serves Prometheus metrics at /api/metrics (docs/metrics.md).
	// monitoring.enabled turns them on whatever this says.
	// +kubebuilder:default=false
	// +optional
	MetricsEnabled *bool `json:"metricsEnabled,omitempty" setting:"metrics_enabled"`
	// RegisterBlocksOnStart registers the built-in block types at start.
	// +kubebuilder:default=true
	// +optional
	RegisterBlocksOnStart *bool `json:"registerBlocksOnStart,omitempty" setting:"register_blocks_on_start"`

	// EncryptionKeySecretRef selects the key of a Secret holding the key that
	// encrypts block documents at rest (32 bytes, URL-safe base64). Unset means
	// a key generated once and kept in the database.
	// +optional
	EncryptionKeySecretRef *corev1.SecretKeySelector `json:"encryptionKeySecretRef,omitempty" setting:"encryption_key"`

	// Retention is the CronJob running `prefect-server retention`, which deletes
	// events older than events.retentionPeriod. There is none with ephemeral storage.
	// +kubebuilder:default={schedule:"17 * * * *"}
	// +optional
	Retention CronJobSettings `json:"retention,omitzero"`
	// Scheduling is the CronJob running `prefect-server schedule`, which creates
	// the scheduled runs of deployments. There is none with ephemeral storage.
	// +kubebuilder:default={schedule:"* * * * *"}
	// +optional
	Scheduling CronJobSettings `json:"scheduling,omitzero"`

	// Backup copies the SQLite database to a volume on a schedule, with a
	// CronJob running `prefect-server backup`: a consistent copy of the live
	// database, checked, the oldest pruned beyond keep; status.lastBackup
	// names the latest. SQLite only: back PostgreSQL up with its own tools
	// (CloudNativePG's backups, pg_dump). Unset means no backups.
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// ExtraEnv is added to the server container last, so it overrides what the
	// operator renders from the spec: an escape hatch for settings the spec
	// does not model. Prefer the typed fields; they are validated.
	// +optional
	ExtraEnv []corev1.EnvVar `json:"extraEnv,omitempty"`
	// Resources of the server container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
	// NodeSelector of the server pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the server pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity of the server pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints of the server pods. Unset, several replicas
	// are spread across nodes where the scheduler can (one pod per node at
	// most more than any other, ScheduleAnyway); set, they replace that.
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// ImagePullSecrets for the server image.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// ServiceAccountName the server pods run as.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Service exposes the API inside the cluster.
	// +kubebuilder:default={}
	// +optional
	Service ServiceSpec `json:"service,omitzero"`
	// Ingress exposes the web UI and the API outside the cluster through an
	// Ingress on ingress.host; unset means none (a previous one is deleted).
	// It may be set together with httpRoute, say while moving from one to the
	// other: both route to the same Service, and status.uiUrl names the
	// Ingress's URL.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`
	// HTTPRoute exposes the web UI and the API through a Gateway API
	// HTTPRoute attached to an existing Gateway; unset means none (a
	// previous one is deleted).
	// +optional
	HTTPRoute *HTTPRouteSpec `json:"httpRoute,omitempty"`
	// Monitoring has the server scraped and alerted on through the
	// prometheus-operator: a ServiceMonitor (or PodMonitor) and a
	// PrometheusRule; unset means none (previous ones are deleted).
	// +optional
	Monitoring *MonitoringSpec `json:"monitoring,omitempty"`
	// Canary has the operator prove, every interval, that the server runs a
	// flow run end to end (RunsHealthy), and hold Ready after a rollout until
	// it has on the new pods. Unset means no canary.
	// +optional
	Canary *CanarySpec `json:"canary,omitempty"`
	// PodSecurityContext replaces the operator's default (non-root, seccomp RuntimeDefault).
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`
	// SecurityContext replaces the container's default (no privilege
	// escalation, all capabilities dropped, read-only root filesystem).
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
}

// Storage is where the server keeps its data.
// +kubebuilder:validation:XValidation:rule="(has(self.ephemeral) ? 1 : 0) + (has(self.sqlite) ? 1 : 0) + (has(self.postgres) ? 1 : 0) == 1",message="set exactly one of storage.ephemeral, storage.sqlite or storage.postgres"
type Storage struct {
	// Ephemeral keeps SQLite in the pod's scratch space: everything is lost
	// when the pod goes. For trying things out.
	// +optional
	Ephemeral *EphemeralStorage `json:"ephemeral,omitempty"`
	// SQLite keeps the database on a PersistentVolumeClaim; one replica.
	// +optional
	SQLite *SQLiteStorage `json:"sqlite,omitempty"`
	// Postgres connects to a PostgreSQL database; several replicas may share it.
	// +optional
	Postgres *PostgresStorage `json:"postgres,omitempty"`
}

// EphemeralStorage has no options.
type EphemeralStorage struct{}

// SQLiteStorage is a SQLite database on a PersistentVolumeClaim.
type SQLiteStorage struct {
	// Size of the volume.
	// +kubebuilder:default="1Gi"
	// +optional
	Size resource.Quantity `json:"size,omitzero"`
	// StorageClassName of the volume; unset means the cluster's default class.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// RetainOnDelete keeps the volume, and the data, when the PrefectServer is
	// deleted; a PrefectServer of the same name adopts it again.
	// +kubebuilder:default=true
	// +optional
	RetainOnDelete *bool `json:"retainOnDelete,omitempty"`
	// RestoreFrom is a backup on spec.backup's volume claim, as
	// status.lastBackup.file names it (<server>/prefect-<UTC time>.db). An
	// init container checks it and copies it into place before the server
	// starts, only when the database does not exist yet (a new volume): an
	// existing database is never overwritten, so it is safe to leave set.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$`
	// +kubebuilder:validation:MaxLength=512
	// +optional
	RestoreFrom string `json:"restoreFrom,omitempty"`
}

// BackupSpec schedules backups of a SQLite server.
type BackupSpec struct {
	// Schedule in cron format.
	// +kubebuilder:default="0 3 * * *"
	// +kubebuilder:validation:MinLength=1
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Keep is how many of this server's backups stay on the volume, the new
	// one included; the oldest are deleted after each successful backup.
	// Other files on the volume are never touched.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +optional
	Keep *int32 `json:"keep,omitempty"`
	// VolumeClaimName is an existing PersistentVolumeClaim in this namespace
	// the backups go to, in a directory named after the server. Unset, the
	// operator creates <name>-backup (size, storageClassName), which is kept
	// when the PrefectServer is deleted: backups are for when it is gone.
	// A ReadWriteOnce volume must be able to attach on the server pod's node,
	// where the backup Job runs.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	VolumeClaimName string `json:"volumeClaimName,omitempty"`
	// Size of the volume the operator creates when volumeClaimName is unset:
	// room for keep copies of the database.
	// +kubebuilder:default="5Gi"
	// +optional
	Size resource.Quantity `json:"size,omitzero"`
	// StorageClassName of the volume the operator creates; unset means the
	// cluster's default class.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// PostgresStorage names a PostgreSQL database: either a whole connection URL
// from a Secret, or host, user and a password from a Secret.
// +kubebuilder:validation:XValidation:rule="has(self.connectionURLSecretRef) || (has(self.host) && has(self.user))",message="set connectionURLSecretRef, or host and user (with passwordSecretRef)"
// +kubebuilder:validation:XValidation:rule="!(has(self.connectionURLSecretRef) && has(self.passwordSecretRef))",message="connectionURLSecretRef and passwordSecretRef exclude each other: the URL carries its own password"
type PostgresStorage struct {
	// Host of the PostgreSQL server.
	// +optional
	Host string `json:"host,omitempty"`
	// Port of the PostgreSQL server.
	// +kubebuilder:default=5432
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
	// Database name.
	// +kubebuilder:default="prefect"
	// +optional
	Database string `json:"database,omitempty"`
	// User to connect as.
	// +optional
	User string `json:"user,omitempty"`
	// PasswordSecretRef selects the key of a Secret holding the user's password.
	// +optional
	PasswordSecretRef *corev1.SecretKeySelector `json:"passwordSecretRef,omitempty"`
	// ConnectionURLSecretRef selects the key of a Secret holding a whole
	// connection URL (postgresql://user:pass@host:5432/db, or the
	// postgresql+asyncpg:// form Python Prefect uses).
	// +optional
	ConnectionURLSecretRef *corev1.SecretKeySelector `json:"connectionURLSecretRef,omitempty"`
	// SSLMode is libpq's sslmode. TLS, when set, takes its place.
	// +kubebuilder:validation:Enum=disable;allow;prefer;require;verify-ca;verify-full
	// +kubebuilder:default="prefer"
	// +optional
	SSLMode string `json:"sslMode,omitempty"`
	// TLS connects over TLS with certificates from Secrets, mounted into the
	// pods: the server's certificate is always verified (against the CA
	// given, else the image's system roots), and a client certificate makes
	// it mutual TLS. Pods roll when these Secrets change.
	// +optional
	TLS *PostgresTLS `json:"tls,omitempty"`
}

// PostgresTLS is the server's TLS to PostgreSQL, with Prefect's
// PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_* settings.
type PostgresTLS struct {
	// CASecretRef selects the key of a Secret holding the PEM certificates
	// of the CAs that sign PostgreSQL's certificate; unset means the system's
	// roots.
	// +optional
	CASecretRef *corev1.SecretKeySelector `json:"caSecretRef,omitempty"`
	// ClientCertSecretName names a kubernetes.io/tls Secret in the namespace
	// (tls.crt and tls.key, as cert-manager writes them): the client
	// certificate the server presents.
	// +optional
	ClientCertSecretName string `json:"clientCertSecretName,omitempty"`
	// CheckHostname also checks that PostgreSQL's certificate names the host
	// connected to (libpq's verify-full rather than verify-ca).
	// +kubebuilder:default=true
	// +optional
	CheckHostname *bool `json:"checkHostname,omitempty"`
}

// Duration is a length of time as Prefect's settings take it: ISO 8601
// (PT15S, PT1H30M, P7D) or a number of seconds (5, 2.5).
// +kubebuilder:validation:XValidation:rule="self.matches('^(P([0-9]+([.][0-9]+)?[YMWD])*(T([0-9]+([.][0-9]+)?[HMS])+)?|[0-9]+([.][0-9]+)?)$') && self != 'P'",message="must be an ISO 8601 duration such as PT15S or P7D, or a number of seconds"
// +kubebuilder:validation:MaxLength=64
type Duration string

// CronJobSettings shape one of the operator's CronJobs.
type CronJobSettings struct {
	// Schedule in cron format.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Suspend stops new runs of the CronJob.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// SuccessfulJobsHistoryLimit is how many finished Jobs to keep.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	// FailedJobsHistoryLimit is how many failed Jobs to keep.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
}

// ServiceSpec shapes the API's Service.
type ServiceSpec struct {
	// Type of the Service.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=ClusterIP
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`
	// Port the Service listens on.
	// +kubebuilder:default=4200
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
	// Annotations of the Service.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
