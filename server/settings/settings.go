package settings

import (
	"slices"
	"time"
)

// Settings is the effective configuration, filled by Load. Every leaf field is
// bound to exactly one row of Table through its `setting` tag (the dotted row
// Name is the tags along the path), and fields appear in table order. See the
// row for each field's environment variable, default and validation.
type Settings struct {
	// Home is PREFECT_HOME with "~" resolved.
	Home string `setting:"home"`
	// AnalyticsEnabled lets the UI send anonymous usage events; the server
	// itself sends none.
	AnalyticsEnabled bool `setting:"analytics_enabled"`
	// MetricsEnabled serves Prometheus metrics at /api/metrics.
	MetricsEnabled bool `setting:"metrics_enabled"`
	// RegisterBlocksOnStart registers the block catalogue at start.
	RegisterBlocksOnStart bool `setting:"register_blocks_on_start"`
	// CatalogueDirectory holds blocks.json and views/ from the prefect package.
	CatalogueDirectory string `setting:"catalogue_directory"`
	// EncryptionKey encrypts block documents at rest.
	EncryptionKey string `setting:"encryption_key"`

	API          APISettings          `setting:"api"`
	Database     DatabaseSettings     `setting:"database"`
	Logging      LoggingSettings      `setting:"logging"`
	Events       EventsSettings       `setting:"events"`
	Deployments  DeploymentsSettings  `setting:"deployments"`
	Tasks        TasksSettings        `setting:"tasks"`
	Concurrency  ConcurrencySettings  `setting:"concurrency"`
	FlowRunGraph FlowRunGraphSettings `setting:"flow_run_graph"`
	Logs         LogsSettings         `setting:"logs"`
	UI           UISettings           `setting:"ui"`
	Services     ServicesSettings     `setting:"services"`
}

// APISettings configure the HTTP and WebSocket listener.
type APISettings struct {
	Host                  string        `setting:"host"`
	Port                  int           `setting:"port"`
	BasePath              string        `setting:"base_path"`
	KeepAliveTimeout      time.Duration `setting:"keepalive_timeout"`
	ReadHeaderTimeout     time.Duration `setting:"read_header_timeout"`
	RequestTimeout        time.Duration `setting:"request_timeout"`
	MaxBodySize           int64         `setting:"max_body_size"`
	MaxConnections        int           `setting:"max_connections"`
	ProbePort             int           `setting:"probe_port"`
	MaxParameterSize      int64         `setting:"max_parameter_size"`
	DefaultLimit          int           `setting:"default_limit"`
	AuthString            string        `setting:"auth_string"`
	CSRFProtectionEnabled bool          `setting:"csrf_protection_enabled"`
	CSRFTokenExpiration   time.Duration `setting:"csrf_token_expiration"`
	CORSAllowedOrigins    string        `setting:"cors_allowed_origins"`
	CORSAllowedMethods    string        `setting:"cors_allowed_methods"`
	CORSAllowedHeaders    string        `setting:"cors_allowed_headers"`
	WebsocketPingInterval time.Duration `setting:"websocket_ping_interval"`
	WebsocketPingTimeout  time.Duration `setting:"websocket_ping_timeout"`
}

// DatabaseSettings choose and tune the store. ConnectionURL is always set
// after Load: given, built from Driver/Host/..., or the SQLite default.
type DatabaseSettings struct {
	ConnectionURL     string        `setting:"connection_url"`
	Driver            string        `setting:"driver"`
	Host              string        `setting:"host"`
	Port              int           `setting:"port"`
	User              string        `setting:"user"`
	Name              string        `setting:"name"`
	Password          string        `setting:"password"`
	MigrateOnStart    bool          `setting:"migrate_on_start"`
	Timeout           time.Duration `setting:"timeout"`
	ConnectionTimeout time.Duration `setting:"connection_timeout"`
	MigrationTimeout  time.Duration `setting:"migration_timeout"`
	PoolSize          int           `setting:"pool_size"`
	MaxOverflow       int           `setting:"max_overflow"`
	PoolRecycle       time.Duration `setting:"pool_recycle"`
	PoolTimeout       time.Duration `setting:"pool_timeout"`
	ApplicationName   string        `setting:"application_name"`
	SearchPath        string        `setting:"search_path"`
	TLS               DatabaseTLS   `setting:"tls"`
}

// DatabaseTLS configures client TLS to PostgreSQL.
type DatabaseTLS struct {
	Enabled       bool   `setting:"enabled"`
	CAFile        string `setting:"ca_file"`
	CertFile      string `setting:"cert_file"`
	KeyFile       string `setting:"key_file"`
	CheckHostname bool   `setting:"check_hostname"`
}

// LoggingSettings configure the server's own log.
type LoggingSettings struct {
	// Level is upper-case: DEBUG, INFO, WARNING, ERROR or CRITICAL.
	Level string `setting:"level"`
}

// EventsSettings bound and retain events.
type EventsSettings struct {
	MaximumSizeBytes          int64         `setting:"maximum_size_bytes"`
	MaximumRelatedResources   int           `setting:"maximum_related_resources"`
	MaximumLabelsPerResource  int           `setting:"maximum_labels_per_resource"`
	MaximumEventNameLength    int           `setting:"maximum_event_name_length"`
	RetentionPeriod           time.Duration `setting:"retention_period"`
	MaximumWebsocketBackfill  time.Duration `setting:"maximum_websocket_backfill"`
	WebsocketBackfillPageSize int           `setting:"websocket_backfill_page_size"`
	StreamOutEnabled          bool          `setting:"stream_out_enabled"`
	RelatedResourceCacheTTL   time.Duration `setting:"related_resource_cache_ttl"`
	ExpiredBucketBuffer       time.Duration `setting:"expired_bucket_buffer"`
	ProactiveGranularity      time.Duration `setting:"proactive_granularity"`
}

// DeploymentsSettings bound deployment schedules and slot waits.
type DeploymentsSettings struct {
	MaxScheduledRuns           int     `setting:"max_scheduled_runs"`
	ConcurrencySlotWaitSeconds float64 `setting:"concurrency_slot_wait_seconds"`
}

// TasksSettings bound task runs and background-task scheduling.
type TasksSettings struct {
	TagConcurrencySlotWaitSeconds float64         `setting:"tag_concurrency_slot_wait_seconds"`
	MaxCacheKeyLength             int             `setting:"max_cache_key_length"`
	Scheduling                    TasksScheduling `setting:"scheduling"`
}

// TasksScheduling bounds the queues that feed background task workers.
type TasksScheduling struct {
	MaxScheduledQueueSize int           `setting:"max_scheduled_queue_size"`
	MaxRetryQueueSize     int           `setting:"max_retry_queue_size"`
	PendingTaskTimeout    time.Duration `setting:"pending_task_timeout"`
}

// ConcurrencySettings tune concurrency-limit leases and retries.
type ConcurrencySettings struct {
	InitialDeploymentLeaseDuration    time.Duration `setting:"initial_deployment_lease_duration"`
	MaximumConcurrencySlotWaitSeconds float64       `setting:"maximum_concurrency_slot_wait_seconds"`
}

// FlowRunGraphSettings bound the v2 flow-run graph.
type FlowRunGraphSettings struct {
	MaxNodes     int `setting:"max_nodes"`
	MaxArtifacts int `setting:"max_artifacts"`
}

// LogsSettings control streaming of flow-run logs.
type LogsSettings struct {
	StreamOutEnabled        bool `setting:"stream_out_enabled"`
	StreamPublishingEnabled bool `setting:"stream_publishing_enabled"`
}

// UISettings control the bundled UI and what /ui-settings reports.
type UISettings struct {
	Enabled                bool   `setting:"enabled"`
	V2Enabled              bool   `setting:"v2_enabled"`
	APIURL                 string `setting:"api_url"`
	ServeBase              string `setting:"serve_base"`
	StaticDirectory        string `setting:"static_directory"`
	ShowPromotionalContent bool   `setting:"show_promotional_content"`
}

// ServicesSettings hold one struct per background service.
type ServicesSettings struct {
	Scheduler           SchedulerService           `setting:"scheduler"`
	LateRuns            LateRunsService            `setting:"late_runs"`
	PauseExpirations    PauseExpirationsService    `setting:"pause_expirations"`
	CancellationCleanup CancellationCleanupService `setting:"cancellation_cleanup"`
	Foreman             ForemanService             `setting:"foreman"`
	EventPersister      EventPersisterService      `setting:"event_persister"`
	TaskRunRecorder     TaskRunRecorderService     `setting:"task_run_recorder"`
	Triggers            TriggersService            `setting:"triggers"`
	EventLogger         EventLoggerService         `setting:"event_logger"`
	Repossessor         RepossessorService         `setting:"repossessor"`
	Retention           RetentionService           `setting:"retention"`
	DBVacuum            DBVacuumService            `setting:"db_vacuum"`
}

// SchedulerService creates auto-scheduled flow runs for deployments.
type SchedulerService struct {
	Enabled                      bool          `setting:"enabled"`
	LoopSeconds                  time.Duration `setting:"loop_seconds"`
	RecentDeploymentsLoopSeconds time.Duration `setting:"recent_deployments_loop_seconds"`
	DeploymentBatchSize          int           `setting:"deployment_batch_size"`
	MaxRuns                      int           `setting:"max_runs"`
	MinRuns                      int           `setting:"min_runs"`
	MaxScheduledTime             time.Duration `setting:"max_scheduled_time"`
	MinScheduledTime             time.Duration `setting:"min_scheduled_time"`
	InsertBatchSize              int           `setting:"insert_batch_size"`
}

// LateRunsService marks overdue scheduled runs Late.
type LateRunsService struct {
	Enabled      bool          `setting:"enabled"`
	LoopSeconds  time.Duration `setting:"loop_seconds"`
	AfterSeconds time.Duration `setting:"after_seconds"`
}

// PauseExpirationsService fails paused runs whose pause timed out.
type PauseExpirationsService struct {
	Enabled     bool          `setting:"enabled"`
	LoopSeconds time.Duration `setting:"loop_seconds"`
}

// CancellationCleanupService cancels the children of cancelled runs.
type CancellationCleanupService struct {
	Enabled     bool          `setting:"enabled"`
	LoopSeconds time.Duration `setting:"loop_seconds"`
}

// ForemanService marks workers, work queues and deployments offline or not
// ready when they stop polling.
type ForemanService struct {
	Enabled                            bool          `setting:"enabled"`
	LoopSeconds                        time.Duration `setting:"loop_seconds"`
	InactivityHeartbeatMultiple        int           `setting:"inactivity_heartbeat_multiple"`
	FallbackHeartbeatIntervalSeconds   time.Duration `setting:"fallback_heartbeat_interval_seconds"`
	DeploymentLastPolledTimeoutSeconds time.Duration `setting:"deployment_last_polled_timeout_seconds"`
	WorkQueueLastPolledTimeoutSeconds  time.Duration `setting:"work_queue_last_polled_timeout_seconds"`
}

// EventPersisterService writes events to the database in batches.
type EventPersisterService struct {
	Enabled         bool          `setting:"enabled"`
	BatchSize       int           `setting:"batch_size"`
	FlushInterval   time.Duration `setting:"flush_interval"`
	QueueMaxSize    int           `setting:"queue_max_size"`
	MaxFlushRetries int           `setting:"max_flush_retries"`
}

// TaskRunRecorderService records task runs from client-side task events.
type TaskRunRecorderService struct {
	Enabled       bool          `setting:"enabled"`
	BatchSize     int           `setting:"batch_size"`
	FlushInterval time.Duration `setting:"flush_interval"`
}

// TriggersService evaluates automation triggers and runs their actions.
type TriggersService struct {
	Enabled                          bool          `setting:"enabled"`
	PGNotifyReconnectIntervalSeconds time.Duration `setting:"pg_notify_reconnect_interval_seconds"`
	PGNotifyHeartbeatIntervalSeconds time.Duration `setting:"pg_notify_heartbeat_interval_seconds"`
}

// EventLoggerService echoes every event to the log, for debugging.
type EventLoggerService struct {
	Enabled bool `setting:"enabled"`
}

// RepossessorService reclaims expired concurrency-slot leases.
type RepossessorService struct {
	Enabled     bool          `setting:"enabled"`
	LoopSeconds time.Duration `setting:"loop_seconds"`
}

// RetentionService deletes events older than Events.RetentionPeriod in
// bounded batches (ours; the CronJob runs it as `prefect-server retention`).
type RetentionService struct {
	Enabled     bool          `setting:"enabled"`
	LoopSeconds time.Duration `setting:"loop_seconds"`
	BatchSize   int           `setting:"batch_size"`
}

// DBVacuumService deletes old data of the enabled kinds.
type DBVacuumService struct {
	// Enabled lists the vacuum kinds to run: "events", "flow_runs"; empty runs none.
	Enabled         []string      `setting:"enabled"`
	LoopSeconds     time.Duration `setting:"loop_seconds"`
	RetentionPeriod time.Duration `setting:"retention_period"`
	BatchSize       int           `setting:"batch_size"`
}

// VacuumEnabled reports whether kind ("events" or "flow_runs") is enabled.
func (v DBVacuumService) VacuumEnabled(kind string) bool {
	return slices.Contains(v.Enabled, kind)
}
