package builders

import "prefectgo.dev/prefectgo/api/v1alpha1"

const (
	// DataDir is where the SQLite volume is mounted; PREFECT_HOME lives here.
	DataDir = "/data"
	// BackupDir is where the backup volume is mounted in the backup Job and
	// the restore init container; each server's backups are in a directory
	// of its name there.
	BackupDir = "/backup"
	// ScratchDir is an emptyDir, the only writable place besides DataDir on
	// the read-only root filesystem; PREFECT_HOME lives here without SQLite.
	ScratchDir = "/tmp"
	// ServerBinary is the server's path in the image.
	ServerBinary = "/prefect-server"
	// ContainerName is the server container of the Deployment.
	ContainerName = "prefect-server"
	// PortName names the API port of the container and the Service.
	PortName = "http"
	// ProbePortName names the container's probe port, which only the
	// kubelet's probes use (PREFECT_SERVER_API_PROBE_PORT); no Service exposes it.
	ProbePortName = "probes"
	// APIBasePath is where the server serves its API; it is fixed (see the
	// exemption of api.base_path) so probes, Service URL and status agree.
	APIBasePath = "/api"
	// ConfigHashAnnotation on the pod template rolls the pods when the
	// rendered configuration, referenced Secrets included, changes.
	ConfigHashAnnotation = "prefectgo.dev/config-hash"
	// NonRootID is the user, group and fsGroup of every pod (distroless nonroot).
	NonRootID int64 = 65532
)

// Components: the app.kubernetes.io/component label of each kind of pod.
// Only the server's pods carry "server", so the Service never selects a Job's pod.
const (
	ComponentServer    = "server"
	ComponentMigration = "migration"
	ComponentRetention = "retention"
	ComponentScheduler = "scheduler"
	ComponentBackup    = "backup"
)

// Storage kinds, as reported in status.storage.
const (
	StorageEphemeral = "ephemeral"
	StorageSQLite    = "sqlite"
	StoragePostgres  = "postgres"
)

// Defaults the API server fills in from the CRD; the builders fall back to
// the same values, so an object that skipped defaulting renders the same.
// TestFallbacksMatchCRDDefaults keeps them equal.
const (
	defaultPort               int32 = 4200
	defaultProbePort          int32 = 4201
	defaultReplicas           int32 = 1
	defaultPostgresPort       int32 = 5432
	defaultPostgresDatabase         = "prefect"
	defaultSSLMode                  = "prefer"
	defaultSQLiteSize               = "1Gi"
	defaultRetentionSchedule        = "17 * * * *"
	defaultSchedulingSchedule       = "* * * * *"
	defaultBackupSchedule           = "0 3 * * *"
	defaultBackupKeep         int32 = 7
	defaultBackupSize               = "5Gi"
	defaultSuccessfulJobs     int32 = 3
	defaultFailedJobs         int32 = 1
)

// Labels are the labels of every object and of the server pods.
func Labels(ps *v1alpha1.PrefectServer) map[string]string {
	return componentLabels(ps, ComponentServer)
}

// SelectorLabels are the stable subset of Labels that selects the server
// pods (Deployment selector, Service selector, the CronJobs' pod affinity).
// A Deployment's selector is immutable: never change these.
func SelectorLabels(ps *v1alpha1.PrefectServer) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "prefect-server",
		"app.kubernetes.io/instance":  ps.Name,
		"app.kubernetes.io/component": ComponentServer,
	}
}

func componentLabels(ps *v1alpha1.PrefectServer, component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "prefect-server",
		"app.kubernetes.io/instance":   ps.Name,
		"app.kubernetes.io/component":  component,
		"app.kubernetes.io/managed-by": "prefectgo-operator",
		"app.kubernetes.io/part-of":    "prefect",
	}
}

// DeploymentName is the name of the server Deployment.
func DeploymentName(ps *v1alpha1.PrefectServer) string { return ps.Name }

// ServiceName is the name of the API Service.
func ServiceName(ps *v1alpha1.PrefectServer) string { return ps.Name }

// PVCName is the name of the SQLite volume claim.
func PVCName(ps *v1alpha1.PrefectServer) string { return ps.Name + "-data" }

// RetentionCronJobName and SchedulerCronJobName name the CronJobs.
func RetentionCronJobName(ps *v1alpha1.PrefectServer) string { return ps.Name + "-retention" }

// SchedulerCronJobName names the CronJob running `prefect-server schedule`.
func SchedulerCronJobName(ps *v1alpha1.PrefectServer) string { return ps.Name + "-scheduler" }

// BackupCronJobName names the CronJob running `prefect-server backup`.
func BackupCronJobName(ps *v1alpha1.PrefectServer) string { return ps.Name + "-backup" }

// BackupPVCName names the backup volume claim the operator creates when
// spec.backup.volumeClaimName is unset.
func BackupPVCName(ps *v1alpha1.PrefectServer) string { return ps.Name + "-backup" }

// BackupClaimName is the claim the backups go to (and restoreFrom reads):
// spec.backup.volumeClaimName, else the one the operator creates.
func BackupClaimName(ps *v1alpha1.PrefectServer) string {
	if b := ps.Spec.Backup; b != nil && b.VolumeClaimName != "" {
		return b.VolumeClaimName
	}
	return BackupPVCName(ps)
}

// IngressName is the name of the Ingress (spec.ingress).
func IngressName(ps *v1alpha1.PrefectServer) string { return ps.Name }

// HTTPRouteName is the name of the HTTPRoute (spec.httpRoute).
func HTTPRouteName(ps *v1alpha1.PrefectServer) string { return ps.Name }

// APIURL is the in-cluster URL clients set as PREFECT_API_URL.
func APIURL(ps *v1alpha1.PrefectServer) string {
	return serviceOrigin(ps) + APIBasePath
}

// StorageKind is ephemeral, sqlite or postgres; a spec with no storage at
// all is SQLite, the CRD's default.
func StorageKind(ps *v1alpha1.PrefectServer) string {
	switch {
	case ps.Spec.Storage.Postgres != nil:
		return StoragePostgres
	case ps.Spec.Storage.Ephemeral != nil:
		return StorageEphemeral
	default:
		return StorageSQLite
	}
}

// hasCronJobs reports whether retention and scheduling run in CronJobs
// rather than in the server process: everywhere but ephemeral storage, whose
// database lives in the server pod alone.
func hasCronJobs(ps *v1alpha1.PrefectServer) bool {
	return StorageKind(ps) != StorageEphemeral
}

// HasBackups reports whether the spec asks for backups the operator can
// make: SQLite only (the CRD refuses spec.backup with other storage).
func HasBackups(ps *v1alpha1.PrefectServer) bool {
	return ps.Spec.Backup != nil && StorageKind(ps) == StorageSQLite
}

func apiPort(ps *v1alpha1.PrefectServer) int32 {
	if p := ps.Spec.API.Port; p != nil {
		return *p
	}
	return defaultPort
}

func probePort(ps *v1alpha1.PrefectServer) int32 {
	if p := ps.Spec.API.ProbePort; p != nil {
		return *p
	}
	return defaultProbePort
}

func servicePort(ps *v1alpha1.PrefectServer) int32 {
	if p := ps.Spec.Service.Port; p != nil {
		return *p
	}
	return defaultPort
}

func image(ps *v1alpha1.PrefectServer, in Inputs) string {
	if ps.Spec.Image != "" {
		return ps.Spec.Image
	}
	return in.DefaultImage
}

func orDefault[T comparable](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}
