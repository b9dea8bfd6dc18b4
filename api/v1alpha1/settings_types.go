// Code in this file mirrors server/settings field by field: each `setting`
// tag names the settings-table row a field sets, and each default is that
// row's default. A test walks the table and fails on any row neither here
// nor on the exemption list.

package v1alpha1

import corev1 "k8s.io/api/core/v1"

// APISettings holds the HTTP server's settings.
// +kubebuilder:validation:XValidation:rule="(has(self.probePort) ? self.probePort : 4201) != (has(self.port) ? self.port : 4200)",message="probePort must differ from port"
type APISettings struct {
	// Port the server listens on inside the pod.
	// +kubebuilder:default=4200
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty" setting:"api.port"`
	// Idle keep-alive connections are closed after this long.
	// +kubebuilder:default="5"
	// +optional
	KeepAliveTimeout Duration `json:"keepAliveTimeout,omitempty" setting:"api.keepalive_timeout"`
	// How long a client has to send a request's headers; slower clients are disconnected.
	// +kubebuilder:default="10"
	// +optional
	ReadHeaderTimeout Duration `json:"readHeaderTimeout,omitempty" setting:"api.read_header_timeout"`
	// Deadline of one request after its headers: a late body gets 408, a late
	// handler is cancelled with 503. WebSockets are exempt; 0 disables it.
	// +kubebuilder:default="60"
	// +optional
	RequestTimeout Duration `json:"requestTimeout,omitempty" setting:"api.request_timeout"`
	// Largest request body in bytes; larger ones get 413.
	// +kubebuilder:default=16777216
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxBodySize *int64 `json:"maxBodySize,omitempty" setting:"api.max_body_size"`
	// Most connections served at once; more wait.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxConnections *int32 `json:"maxConnections,omitempty" setting:"api.max_connections"`
	// Port of the probe listener inside the pod: it serves only /api/health
	// and /api/ready, on connections of its own, and the pod's startup,
	// readiness and liveness probes use it, so clients holding every API
	// connection cannot get the pod restarted. Unset means 4201; it must
	// differ from port. (Not a CRD default: the server's own default is off.)
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	ProbePort *int32 `json:"probePort,omitempty" setting:"api.probe_port"`
	// Largest JSON of flow-run and deployment parameters in bytes; 0 disables the check.
	// +kubebuilder:default=524288
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxParameterSize *int64 `json:"maxParameterSize,omitempty" setting:"api.max_parameter_size"`
	// Default and largest page size of filter endpoints.
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=1
	// +optional
	DefaultLimit *int32 `json:"defaultLimit,omitempty" setting:"api.default_limit"`
	// AuthSecretRef selects the key of a Secret holding "user:password": the
	// API then requires HTTP basic auth (PREFECT_SERVER_API_AUTH_STRING), and
	// clients set PREFECT_API_AUTH_STRING to the same value.
	// +optional
	AuthSecretRef *corev1.SecretKeySelector `json:"authSecretRef,omitempty" setting:"api.auth_string"`
	// Require CSRF tokens on state-changing requests.
	// +kubebuilder:default=false
	// +optional
	CSRFProtection *bool `json:"csrfProtection,omitempty" setting:"api.csrf_protection_enabled"`
	// How long a CSRF token stays valid.
	// +kubebuilder:default="PT1H"
	// +optional
	CSRFTokenExpiration Duration `json:"csrfTokenExpiration,omitempty" setting:"api.csrf_token_expiration"`
	// Comma-separated origins allowed by CORS.
	// +kubebuilder:default="*"
	// +optional
	CORSAllowedOrigins string `json:"corsAllowedOrigins,omitempty" setting:"api.cors_allowed_origins"`
	// Comma-separated methods allowed by CORS.
	// +kubebuilder:default="*"
	// +optional
	CORSAllowedMethods string `json:"corsAllowedMethods,omitempty" setting:"api.cors_allowed_methods"`
	// Comma-separated headers allowed by CORS.
	// +kubebuilder:default="*"
	// +optional
	CORSAllowedHeaders string `json:"corsAllowedHeaders,omitempty" setting:"api.cors_allowed_headers"`
	// Interval of WebSocket pings.
	// +kubebuilder:default="20"
	// +optional
	WebsocketPingInterval Duration `json:"websocketPingInterval,omitempty" setting:"api.websocket_ping_interval"`
	// How long to wait for a WebSocket pong.
	// +kubebuilder:default="20"
	// +optional
	WebsocketPingTimeout Duration `json:"websocketPingTimeout,omitempty" setting:"api.websocket_ping_timeout"`
}

// DatabaseSettings holds the database pool and timeouts.
type DatabaseSettings struct {
	// Connections the pool keeps; with maxOverflow, the most open at once. A
	// PostgreSQL connection unused for a minute is closed.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +optional
	PoolSize *int32 `json:"poolSize,omitempty" setting:"database.pool_size"`
	// Connections opened beyond poolSize under load.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxOverflow *int32 `json:"maxOverflow,omitempty" setting:"database.max_overflow"`
	// Connections older than this are replaced.
	// +kubebuilder:default="3600"
	// +optional
	PoolRecycle Duration `json:"poolRecycle,omitempty" setting:"database.pool_recycle"`
	// How long a request waits for a free connection.
	// +kubebuilder:default="30"
	// +optional
	PoolTimeout Duration `json:"poolTimeout,omitempty" setting:"database.pool_timeout"`
	// Statements running longer are cancelled.
	// +kubebuilder:default="10"
	// +optional
	StatementTimeout Duration `json:"statementTimeout,omitempty" setting:"database.timeout"`
	// How long connecting may take.
	// +kubebuilder:default="5"
	// +optional
	ConnectionTimeout Duration `json:"connectionTimeout,omitempty" setting:"database.connection_timeout"`
	// How long migrations may take; 0 means no limit.
	// +kubebuilder:default="0"
	// +optional
	MigrationTimeout Duration `json:"migrationTimeout,omitempty" setting:"database.migration_timeout"`
	// application_name reported to PostgreSQL.
	// +optional
	ApplicationName string `json:"applicationName,omitempty" setting:"database.application_name"`
	// PostgreSQL search_path (schema) of the server's tables.
	// +optional
	SearchPath string `json:"searchPath,omitempty" setting:"database.search_path"`
}

// EventSettings holds event limits and retention.
type EventSettings struct {
	// Largest event in bytes.
	// +kubebuilder:default=1500000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaximumSizeBytes *int64 `json:"maximumSizeBytes,omitempty" setting:"events.maximum_size_bytes"`
	// Most related resources of one event.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaximumRelatedResources *int32 `json:"maximumRelatedResources,omitempty" setting:"events.maximum_related_resources"`
	// Most labels of one resource.
	// +kubebuilder:default=500
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaximumLabelsPerResource *int32 `json:"maximumLabelsPerResource,omitempty" setting:"events.maximum_labels_per_resource"`
	// Longest event name in characters.
	// +kubebuilder:default=1024
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaximumEventNameLength *int32 `json:"maximumEventNameLength,omitempty" setting:"events.maximum_event_name_length"`
	// Events older than this are deleted by retention.
	// +kubebuilder:default="P7D"
	// +optional
	RetentionPeriod Duration `json:"retentionPeriod,omitempty" setting:"events.retention_period"`
	// How far back an events subscription may backfill.
	// +kubebuilder:default="PT15M"
	// +optional
	MaximumWebsocketBackfill Duration `json:"maximumWebsocketBackfill,omitempty" setting:"events.maximum_websocket_backfill"`
	// Events per backfill page.
	// +kubebuilder:default=250
	// +kubebuilder:validation:Minimum=1
	// +optional
	WebsocketBackfillPageSize *int32 `json:"websocketBackfillPageSize,omitempty" setting:"events.websocket_backfill_page_size"`
	// Serve the /api/events/out stream.
	// +kubebuilder:default=true
	// +optional
	StreamOutEnabled *bool `json:"streamOutEnabled,omitempty" setting:"events.stream_out_enabled"`
	// How long related-resource lookups are cached.
	// +kubebuilder:default="PT5M"
	// +optional
	RelatedResourceCacheTTL Duration `json:"relatedResourceCacheTTL,omitempty" setting:"events.related_resource_cache_ttl"`
	// Grace before an automation's expired bucket is closed.
	// +kubebuilder:default="PT1M"
	// +optional
	ExpiredBucketBuffer Duration `json:"expiredBucketBuffer,omitempty" setting:"events.expired_bucket_buffer"`
	// How often proactive triggers are evaluated.
	// +kubebuilder:default="PT5S"
	// +optional
	ProactiveGranularity Duration `json:"proactiveGranularity,omitempty" setting:"events.proactive_granularity"`
}

// LoggingSettings holds the server's logging.
type LoggingSettings struct {
	// Least severe level the server logs.
	// +kubebuilder:validation:Enum=DEBUG;INFO;WARNING;ERROR;CRITICAL
	// +kubebuilder:default="WARNING"
	// +optional
	Level string `json:"level,omitempty" setting:"logging.level"`
}

// DeploymentSettings holds deployment settings.
type DeploymentSettings struct {
	// Most scheduled runs one schedule may ask for.
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxScheduledRuns *int32 `json:"maxScheduledRuns,omitempty" setting:"deployments.max_scheduled_runs"`
	// Seconds a run waits before retrying a full deployment concurrency limit.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=0
	// +optional
	ConcurrencySlotWaitSeconds *int32 `json:"concurrencySlotWaitSeconds,omitempty" setting:"deployments.concurrency_slot_wait_seconds"`
}

// TaskSettings holds task-run settings.
type TaskSettings struct {
	// Seconds a task waits before retrying a full tag concurrency limit.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	TagConcurrencySlotWaitSeconds *int32 `json:"tagConcurrencySlotWaitSeconds,omitempty" setting:"tasks.tag_concurrency_slot_wait_seconds"`
	// Longest task cache key.
	// +kubebuilder:default=2000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxCacheKeyLength *int32 `json:"maxCacheKeyLength,omitempty" setting:"tasks.max_cache_key_length"`
	// Most background tasks queued per key.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxScheduledQueueSize *int32 `json:"maxScheduledQueueSize,omitempty" setting:"tasks.scheduling.max_scheduled_queue_size"`
	// Most background task retries queued per key.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxRetryQueueSize *int32 `json:"maxRetryQueueSize,omitempty" setting:"tasks.scheduling.max_retry_queue_size"`
	// How long a background task may stay pending; 0 means forever.
	// +kubebuilder:default="PT0S"
	// +optional
	PendingTaskTimeout Duration `json:"pendingTaskTimeout,omitempty" setting:"tasks.scheduling.pending_task_timeout"`
}

// ConcurrencySettings holds concurrency-limit settings.
type ConcurrencySettings struct {
	// Lease of a deployment concurrency slot before the run renews it.
	// +kubebuilder:default="300"
	// +optional
	InitialDeploymentLeaseDuration Duration `json:"initialDeploymentLeaseDuration,omitempty" setting:"concurrency.initial_deployment_lease_duration"`
	// Largest Retry-After for a full concurrency limit.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaximumConcurrencySlotWaitSeconds *int32 `json:"maximumConcurrencySlotWaitSeconds,omitempty" setting:"concurrency.maximum_concurrency_slot_wait_seconds"`
}

// FlowRunGraphSettings holds flow-run graph limits.
type FlowRunGraphSettings struct {
	// Most nodes of a run graph.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxNodes *int32 `json:"maxNodes,omitempty" setting:"flow_run_graph.max_nodes"`
	// Most artifacts of a run graph.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxArtifacts *int32 `json:"maxArtifacts,omitempty" setting:"flow_run_graph.max_artifacts"`
}

// LogsSettings holds log streaming.
type LogsSettings struct {
	// Serve the /api/logs/out stream.
	// +kubebuilder:default=false
	// +optional
	StreamOutEnabled *bool `json:"streamOutEnabled,omitempty" setting:"logs.stream_out_enabled"`
	// Publish logs to the stream as they arrive.
	// +kubebuilder:default=false
	// +optional
	StreamPublishingEnabled *bool `json:"streamPublishingEnabled,omitempty" setting:"logs.stream_publishing_enabled"`
}

// UISettings holds the web UI: Prefect's two UIs, served by the server
// itself beside the API, from the image's /ui.
type UISettings struct {
	// Serve the web UI; /ui-settings is answered either way.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"ui.enabled"`
	// Open the V2 (React) UI for a browser that has not chosen one; false
	// opens the V1 (Vue) UI. Both stay served, and the UIs let a user switch.
	// +kubebuilder:default=true
	// +optional
	V2Enabled *bool `json:"v2Enabled,omitempty" setting:"ui.v2_enabled"`
	// API URL the UI's pages call (PREFECT_SERVER_UI_API_URL, which
	// /ui-settings hands the browser). Unset, the operator sets "/api": a
	// URL relative to the page, so the browser calls the API on whatever
	// origin it loaded the UI from: the Ingress or HTTPRoute host, a
	// `kubectl port-forward` (http://localhost:4200/), a NodePort or
	// LoadBalancer address. (Prefect's own default, http://<api.host>:<port>/api,
	// would be http://0.0.0.0:4200/api in a pod.) Set it only when browsers
	// reach the API at another origin or path than the UI, as an absolute
	// URL ending in /api.
	// +optional
	APIURL string `json:"apiURL,omitempty" setting:"ui.api_url"`
	// Path of the V1 UI; the V2 UI is at <serveBase>/v2, and a base ending in
	// /v2 is the V2 UI's path, the V1 UI's being the rest. The API stays at
	// /api whatever the base, so an Ingress or HTTPRoute routes the whole host.
	// +kubebuilder:default="/"
	// +optional
	ServeBase string `json:"serveBase,omitempty" setting:"ui.serve_base"`
	// Show upgrade prompts and marketing banners in the UI.
	// +kubebuilder:default=true
	// +optional
	ShowPromotionalContent *bool `json:"showPromotionalContent,omitempty" setting:"ui.show_promotional_content"`
}

// ServiceSettings switches the background services on and off and tunes them.
type ServiceSettings struct {
	// Scheduler configures the deployment scheduler.
	// +kubebuilder:default={}
	// +optional
	Scheduler SchedulerService `json:"scheduler,omitzero"`
	// LateRuns configures the late-runs marker.
	// +kubebuilder:default={}
	// +optional
	LateRuns LateRunsService `json:"lateRuns,omitzero"`
	// PauseExpirations configures the pause-expirations service.
	// +kubebuilder:default={}
	// +optional
	PauseExpirations PauseExpirationsService `json:"pauseExpirations,omitzero"`
	// CancellationCleanup configures the cancellation cleanup.
	// +kubebuilder:default={}
	// +optional
	CancellationCleanup CancellationCleanupService `json:"cancellationCleanup,omitzero"`
	// Foreman configures the foreman (worker, pool and queue health).
	// +kubebuilder:default={}
	// +optional
	Foreman ForemanService `json:"foreman,omitzero"`
	// EventPersister configures the event persister.
	// +kubebuilder:default={}
	// +optional
	EventPersister EventPersisterService `json:"eventPersister,omitzero"`
	// TaskRunRecorder configures the task-run recorder.
	// +kubebuilder:default={}
	// +optional
	TaskRunRecorder TaskRunRecorderService `json:"taskRunRecorder,omitzero"`
	// Triggers configures automation triggers.
	// +kubebuilder:default={}
	// +optional
	Triggers TriggersService `json:"triggers,omitzero"`
	// EventLogger configures the event logger.
	// +kubebuilder:default={}
	// +optional
	EventLogger EventLoggerService `json:"eventLogger,omitzero"`
	// Repossessor configures the repossessor (expired concurrency leases).
	// +kubebuilder:default={}
	// +optional
	Repossessor RepossessorService `json:"repossessor,omitzero"`
	// Retention configures event retention.
	// +kubebuilder:default={}
	// +optional
	Retention RetentionService `json:"retention,omitzero"`
	// DBVacuum configures database vacuum of old runs.
	// +kubebuilder:default={}
	// +optional
	DBVacuum DBVacuumService `json:"dbVacuum,omitzero"`
}

// SchedulerService configures the deployment scheduler.
type SchedulerService struct {
	// Run the scheduler in the server pods (off while the scheduling CronJob exists).
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.scheduler.enabled"`
	// Interval of the full scheduling pass.
	// +kubebuilder:default="60"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.scheduler.loop_seconds"`
	// Interval of the pass over recently changed deployments.
	// +kubebuilder:default="5"
	// +optional
	RecentDeploymentsLoopSeconds Duration `json:"recentDeploymentsLoopSeconds,omitempty" setting:"services.scheduler.recent_deployments_loop_seconds"`
	// Deployments scheduled per batch.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +optional
	DeploymentBatchSize *int32 `json:"deploymentBatchSize,omitempty" setting:"services.scheduler.deployment_batch_size"`
	// Most future runs per deployment.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxRuns *int32 `json:"maxRuns,omitempty" setting:"services.scheduler.max_runs"`
	// Fewest future runs per deployment.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinRuns *int32 `json:"minRuns,omitempty" setting:"services.scheduler.min_runs"`
	// Furthest ahead runs are scheduled.
	// +kubebuilder:default="P100D"
	// +optional
	MaxScheduledTime Duration `json:"maxScheduledTime,omitempty" setting:"services.scheduler.max_scheduled_time"`
	// At least this far ahead runs are scheduled.
	// +kubebuilder:default="PT1H"
	// +optional
	MinScheduledTime Duration `json:"minScheduledTime,omitempty" setting:"services.scheduler.min_scheduled_time"`
	// Runs inserted per statement.
	// +kubebuilder:default=500
	// +kubebuilder:validation:Minimum=1
	// +optional
	InsertBatchSize *int32 `json:"insertBatchSize,omitempty" setting:"services.scheduler.insert_batch_size"`
}

// LateRunsService configures the late-runs marker.
type LateRunsService struct {
	// Mark overdue scheduled runs Late.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.late_runs.enabled"`
	// Interval of the pass.
	// +kubebuilder:default="5"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.late_runs.loop_seconds"`
	// How overdue a run is before it is Late.
	// +kubebuilder:default="15"
	// +optional
	AfterSeconds Duration `json:"afterSeconds,omitempty" setting:"services.late_runs.after_seconds"`
}

// PauseExpirationsService configures the pause-expirations service.
type PauseExpirationsService struct {
	// Fail paused runs whose pause timed out.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.pause_expirations.enabled"`
	// Interval of the pass.
	// +kubebuilder:default="5"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.pause_expirations.loop_seconds"`
}

// CancellationCleanupService configures the cancellation cleanup.
type CancellationCleanupService struct {
	// Cancel the children of cancelled runs.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.cancellation_cleanup.enabled"`
	// Interval of the pass.
	// +kubebuilder:default="20"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.cancellation_cleanup.loop_seconds"`
}

// ForemanService configures the foreman (worker, pool and queue health).
type ForemanService struct {
	// Mark silent workers offline and idle pools, queues and deployments not ready.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.foreman.enabled"`
	// Interval of the pass.
	// +kubebuilder:default="15"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.foreman.loop_seconds"`
	// Missed heartbeats before a worker is offline.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +optional
	InactivityHeartbeatMultiple *int32 `json:"inactivityHeartbeatMultiple,omitempty" setting:"services.foreman.inactivity_heartbeat_multiple"`
	// Heartbeat interval assumed when a worker states none.
	// +kubebuilder:default="30"
	// +optional
	FallbackHeartbeatIntervalSeconds Duration `json:"fallbackHeartbeatIntervalSeconds,omitempty" setting:"services.foreman.fallback_heartbeat_interval_seconds"`
	// A deployment not polled for this long is not ready.
	// +kubebuilder:default="60"
	// +optional
	DeploymentLastPolledTimeoutSeconds Duration `json:"deploymentLastPolledTimeoutSeconds,omitempty" setting:"services.foreman.deployment_last_polled_timeout_seconds"`
	// A work queue not polled for this long is not ready.
	// +kubebuilder:default="60"
	// +optional
	WorkQueueLastPolledTimeoutSeconds Duration `json:"workQueueLastPolledTimeoutSeconds,omitempty" setting:"services.foreman.work_queue_last_polled_timeout_seconds"`
}

// EventPersisterService configures the event persister.
type EventPersisterService struct {
	// Store events in the database.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.event_persister.enabled"`
	// Most events written per transaction.
	// +kubebuilder:default=500
	// +kubebuilder:validation:Minimum=1
	// +optional
	BatchSize *int32 `json:"batchSize,omitempty" setting:"services.event_persister.batch_size"`
	// Longest wait of fewer than 64 queued events for more before they are written.
	// +kubebuilder:default="0.1"
	// +optional
	FlushInterval Duration `json:"flushInterval,omitempty" setting:"services.event_persister.flush_interval"`
	// Events queued before publishers wait.
	// +kubebuilder:default=50000
	// +kubebuilder:validation:Minimum=1
	// +optional
	QueueMaxSize *int32 `json:"queueMaxSize,omitempty" setting:"services.event_persister.queue_max_size"`
	// Attempts at writing a batch.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxFlushRetries *int32 `json:"maxFlushRetries,omitempty" setting:"services.event_persister.max_flush_retries"`
}

// TaskRunRecorderService configures the task-run recorder.
type TaskRunRecorderService struct {
	// Record task runs from client events.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.task_run_recorder.enabled"`
	// Most task runs written per transaction, each with all its queued states.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +optional
	BatchSize *int32 `json:"batchSize,omitempty" setting:"services.task_run_recorder.batch_size"`
	// Longest wait before queued states are written.
	// +kubebuilder:default="5"
	// +optional
	FlushInterval Duration `json:"flushInterval,omitempty" setting:"services.task_run_recorder.flush_interval"`
}

// TriggersService configures automation triggers.
type TriggersService struct {
	// Evaluate automation triggers.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.triggers.enabled"`
	// Wait before reconnecting a lost PostgreSQL listener.
	// +kubebuilder:default="10"
	// +optional
	PGNotifyReconnectIntervalSeconds Duration `json:"pgNotifyReconnectIntervalSeconds,omitempty" setting:"services.triggers.pg_notify_reconnect_interval_seconds"`
	// Heartbeat interval of the PostgreSQL listener.
	// +kubebuilder:default="5"
	// +optional
	PGNotifyHeartbeatIntervalSeconds Duration `json:"pgNotifyHeartbeatIntervalSeconds,omitempty" setting:"services.triggers.pg_notify_heartbeat_interval_seconds"`
}

// EventLoggerService configures the event logger.
type EventLoggerService struct {
	// Echo every event to the log (debugging).
	// +kubebuilder:default=false
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.event_logger.enabled"`
}

// RepossessorService configures the repossessor (expired concurrency leases).
type RepossessorService struct {
	// Reclaim expired concurrency leases.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.repossessor.enabled"`
	// Interval of the pass.
	// +kubebuilder:default="15"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.repossessor.loop_seconds"`
}

// RetentionService configures event retention.
type RetentionService struct {
	// Delete old events in the server pods (off while the retention CronJob exists).
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty" setting:"services.retention.enabled"`
	// Interval of the pass.
	// +kubebuilder:default="3600"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.retention.loop_seconds"`
	// Rows deleted per statement.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	BatchSize *int32 `json:"batchSize,omitempty" setting:"services.retention.batch_size"`
}

// DBVacuumService configures database vacuum of old runs.
type DBVacuumService struct {
	// What the vacuum deletes: events, flow_runs, both, or none (an empty list).
	// +kubebuilder:validation:items:Enum=events;flow_runs
	// +kubebuilder:default={events}
	// +listType=set
	// +optional
	Enabled []string `json:"enabled,omitzero" setting:"services.db_vacuum.enabled"`
	// Interval of the pass.
	// +kubebuilder:default="3600"
	// +optional
	LoopSeconds Duration `json:"loopSeconds,omitempty" setting:"services.db_vacuum.loop_seconds"`
	// Finished flow runs older than this are deleted.
	// +kubebuilder:default="P90D"
	// +optional
	RetentionPeriod Duration `json:"retentionPeriod,omitempty" setting:"services.db_vacuum.retention_period"`
	// Rows deleted per statement.
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=1
	// +optional
	BatchSize *int32 `json:"batchSize,omitempty" setting:"services.db_vacuum.batch_size"`
}
