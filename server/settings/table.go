package settings

import (
	"slices"
	"strings"
	"time"
)

// Kind decides how a value is parsed, validated against Min/Max and printed.
// It is a string so the operator and the docs can show it as is.
type Kind string

// The kinds, with the Go type of the Settings field each one fills.
const (
	KindString Kind = "string" // string, taken as is
	KindInt    Kind = "int"    // int
	KindFloat  Kind = "float"  // float64
	KindBool   Kind = "bool"   // bool: true/false, 1/0, yes/no, on/off, t/f, y/n (any case)
	// KindDuration is a time.Duration written as ISO 8601 (PT15S, P7D,
	// PT1H30M, PT0.5S) or plain seconds (5, 2.5); printed as ISO 8601.
	KindDuration Kind = "duration"
	// KindSeconds parses like KindDuration but prints plain seconds, for
	// settings Prefect declares as numbers of seconds (loop_seconds, ...).
	KindSeconds Kind = "seconds"
	// KindSize is an int64 number of bytes: a plain integer, or an integer
	// with a unit: B, KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB
	// (powers of 1024), case-insensitive, e.g. 16MiB. Printed as plain bytes.
	KindSize Kind = "size"
	KindEnum Kind = "enum" // string, one of Enum (any case), stored as spelled in Enum
	// KindList is a []string, comma-separated (a,b) or a JSON array
	// (["a","b"]; [] for none); items must be in Enum when Enum is set.
	KindList Kind = "list"
)

// Setting is one row of the table.
type Setting struct {
	// Name is the dotted key (api.port); it is the path of `setting` tags to
	// the Settings field, and the operator's spec path.
	Name string
	// Env is the canonical environment variable.
	Env string
	// Aliases are legacy variables Python Prefect still accepts; Env wins
	// over them, and earlier aliases over later ones.
	Aliases []string
	// Default is the value as a user would write it; "" means unset (the
	// field's zero value).
	Default string
	// Doc is one line for humans.
	Doc  string
	Kind Kind
	// Secret values are never printed (for the database URL, only its
	// password is hidden) nor echoed in errors.
	Secret bool
	// Extension marks a setting of ours that Python Prefect does not have.
	Extension bool
	// Enum lists the allowed values of a KindEnum or KindList setting.
	Enum []string
	// Min and Max bound numeric kinds, in the kind's unit: the value for int
	// and float, bytes for size, seconds for duration and seconds. Nil means
	// unbounded. ExclusiveMin makes Min a strict lower bound.
	Min, Max     *float64
	ExclusiveMin bool

	// legacy rewrites whole values (keys lower-case) before parsing, for old
	// spellings Python still maps, like db_vacuum's true/false.
	legacy map[string]string
	// check validates what the kind cannot express; it returns the reason.
	check func(v any) string
	// redact hides the secret part of a set value; nil hides all of it.
	redact func(string) string
}

// Table returns every setting, grouped by section in the order of the
// Settings struct. The slice is a copy: callers may keep or modify it.
func Table() []Setting {
	out := slices.Clone(table)
	for i := range out {
		out[i].Aliases = slices.Clone(out[i].Aliases)
		out[i].Enum = slices.Clone(out[i].Enum)
		if out[i].Min != nil {
			out[i].Min = new(*out[i].Min)
		}
		if out[i].Max != nil {
			out[i].Max = new(*out[i].Max)
		}
	}
	return out
}

// Group is the section a setting belongs to: its Name without the last
// element ("services.scheduler" for services.scheduler.loop_seconds), or ""
// for top-level settings.
func (st Setting) Group() string {
	i := strings.LastIndexByte(st.Name, '.')
	if i < 0 {
		return ""
	}
	return st.Name[:i]
}

// Envs returns the canonical variable followed by the aliases, in the order
// Load consults them.
func (st Setting) Envs() []string {
	return append([]string{st.Env}, st.Aliases...)
}

func checkAuthString(v any) string {
	if !strings.Contains(v.(string), ":") {
		return "must be of the form user:password"
	}
	return ""
}

func checkURLPath(v any) string {
	if !strings.HasPrefix(v.(string), "/") {
		return `must start with "/"`
	}
	return ""
}

// Python documents -1 as "never recycle"; anything else below 0 is a typo.
func checkPoolRecycle(v any) string {
	if d := v.(time.Duration); d < 0 && d != -time.Second {
		return "must be -1 (never recycle) or at least 0"
	}
	return ""
}

var (
	vacuumKinds = []string{"events", "flow_runs"}
	logLevels   = []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
	dbDrivers   = []string{"postgresql+asyncpg", "sqlite+aiosqlite"}
)

// table is the spine. Rows are in Settings field order (a test enforces it);
// ranges say what the server can run with, which is sometimes stricter than
// Python: intervals feed tickers, so they must be positive.
var table = []Setting{
	{Name: "home", Env: "PREFECT_HOME", Default: "~/.prefect", Kind: KindString,
		Doc: "Prefect's home directory; holds the SQLite database by default. A leading ~ is the user's home."},
	{Name: "analytics_enabled", Env: "PREFECT_SERVER_ANALYTICS_ENABLED", Default: "true", Kind: KindBool,
		Doc: "Let the V2 UI send anonymous usage events (it reads this from /api/admin/settings); false also has the UI's pages refuse connections to anywhere but this server and the UI's API URL (Content-Security-Policy connect-src), since the V2 UI contacts Amplitude on load whatever this says. The server itself sends none."},
	{Name: "metrics_enabled", Env: "PREFECT_SERVER_METRICS_ENABLED", Aliases: []string{"PREFECT_API_ENABLE_METRICS"},
		Default: "false", Kind: KindBool, Doc: "Serve Prometheus metrics at /api/metrics."},
	{Name: "register_blocks_on_start", Env: "PREFECT_SERVER_REGISTER_BLOCKS_ON_START", Aliases: []string{"PREFECT_API_BLOCKS_REGISTER_ON_START"},
		Default: "true", Kind: KindBool,
		Doc: "Register Prefect's block catalogue at start, as Prefect does: its system, notification, storage and integration block types with their schemas, from blocks.json in the catalogue directory."},
	{Name: "catalogue_directory", Env: "PREFECT_SERVER_CATALOGUE_DIRECTORY", Kind: KindString, Extension: true,
		Doc: "Directory of what the server takes from the pinned prefect package besides the UIs: blocks.json (the block catalogue) and views/ (the collection views, /api/collections/views). hack/catalogue-assets.sh prints one; the image sets /catalogue. Without it no block types are registered and the views answer 404."},
	{Name: "encryption_key", Env: "PREFECT_SERVER_ENCRYPTION_KEY", Aliases: []string{"ORION_ENCRYPTION_KEY"}, Kind: KindString, Secret: true,
		Doc: "Key that encrypts block documents at rest (32 bytes, URL-safe base64, as Python Prefect's); unset means a key generated once and kept in the database."},

	// api
	{Name: "api.host", Env: "PREFECT_SERVER_API_HOST", Default: "127.0.0.1", Kind: KindString,
		Doc: "Address the API listens on."},
	{Name: "api.port", Env: "PREFECT_SERVER_API_PORT", Default: "4200", Kind: KindInt, Min: new(1.0), Max: new(65535.0),
		Doc: "Port the API listens on."},
	{Name: "api.base_path", Env: "PREFECT_SERVER_API_BASE_PATH", Default: "/api", Kind: KindString, check: checkURLPath,
		Doc: "URL path the API is served under."},
	{Name: "api.keepalive_timeout", Env: "PREFECT_SERVER_API_KEEPALIVE_TIMEOUT", Default: "5", Kind: KindSeconds, Min: new(0.0),
		Doc: "How long an idle keep-alive connection stays open; set it above a load balancer's idle timeout. 0 closes each connection after its response."},
	{Name: "api.read_header_timeout", Env: "PREFECT_SERVER_API_READ_HEADER_TIMEOUT", Default: "10", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Extension: true,
		Doc: "How long a client has to send a request's headers once it starts (or, on a new connection, once connected); slower clients are disconnected."},
	{Name: "api.request_timeout", Env: "PREFECT_SERVER_API_REQUEST_TIMEOUT", Default: "60", Kind: KindSeconds, Min: new(0.0), Extension: true,
		Doc: "Deadline for one request after its headers: a body not received by then gets 408, a handler still running is cancelled and answers 503; the response then has as long again to be written. WebSocket upgrades are exempt. 0 disables it."},
	{Name: "api.max_body_size", Env: "PREFECT_SERVER_API_MAX_BODY_SIZE", Default: "16777216", Kind: KindSize, Min: new(1.0), Extension: true,
		Doc: "Largest request body accepted, in bytes; larger requests get 413."},
	{Name: "api.max_connections", Env: "PREFECT_SERVER_API_MAX_CONNECTIONS", Default: "1000", Kind: KindInt, Min: new(1.0), Extension: true,
		Doc: "Most client connections served at once; further connections wait to be accepted."},
	{Name: "api.probe_port", Env: "PREFECT_SERVER_API_PROBE_PORT", Kind: KindInt, Min: new(0.0), Max: new(65535.0), Extension: true,
		Doc: "Port of a second listener that serves only the health and readiness probes (GET /health and /ready under the base path) on a few connections of its own, so probes answer while slow clients hold every API connection; unset or 0 turns it off."},
	{Name: "api.max_parameter_size", Env: "PREFECT_SERVER_API_MAX_PARAMETER_SIZE", Default: "524288", Kind: KindSize, Min: new(0.0),
		Doc: "Largest JSON size of flow-run and deployment parameters, in bytes; 0 disables the check."},
	{Name: "api.default_limit", Env: "PREFECT_SERVER_API_DEFAULT_LIMIT", Aliases: []string{"PREFECT_API_DEFAULT_LIMIT"},
		Default: "200", Kind: KindInt, Min: new(1.0),
		Doc: "Default and maximum `limit` of queries that return many objects."},
	{Name: "api.auth_string", Env: "PREFECT_SERVER_API_AUTH_STRING", Kind: KindString, Secret: true, check: checkAuthString,
		Doc: "Require HTTP basic auth with these credentials, written user:password; unset means no auth."},
	{Name: "api.csrf_protection_enabled", Env: "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED", Aliases: []string{"PREFECT_SERVER_CSRF_PROTECTION_ENABLED"},
		Default: "false", Kind: KindBool, Doc: "Require a CSRF token on state-changing requests."},
	{Name: "api.csrf_token_expiration", Env: "PREFECT_SERVER_API_CSRF_TOKEN_EXPIRATION", Aliases: []string{"PREFECT_SERVER_CSRF_TOKEN_EXPIRATION"},
		Default: "PT1H", Kind: KindDuration, Min: new(0.0), ExclusiveMin: true, Doc: "How long an issued CSRF token stays valid."},
	{Name: "api.cors_allowed_origins", Env: "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS", Aliases: []string{"PREFECT_SERVER_CORS_ALLOWED_ORIGINS"},
		Default: "*", Kind: KindString, Doc: "Comma-separated origins allowed to make cross-origin requests."},
	{Name: "api.cors_allowed_methods", Env: "PREFECT_SERVER_API_CORS_ALLOWED_METHODS", Aliases: []string{"PREFECT_SERVER_CORS_ALLOWED_METHODS"},
		Default: "*", Kind: KindString, Doc: "Comma-separated methods allowed in cross-origin requests."},
	{Name: "api.cors_allowed_headers", Env: "PREFECT_SERVER_API_CORS_ALLOWED_HEADERS", Aliases: []string{"PREFECT_SERVER_CORS_ALLOWED_HEADERS"},
		Default: "*", Kind: KindString, Doc: "Comma-separated headers allowed in cross-origin requests."},
	{Name: "api.websocket_ping_interval", Env: "PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL", Default: "20", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true,
		Doc: "How often the server pings an open WebSocket."},
	{Name: "api.websocket_ping_timeout", Env: "PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT", Default: "20", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true,
		Doc: "How long to wait for a pong before closing the WebSocket."},

	// database
	{Name: "database.connection_url", Env: "PREFECT_SERVER_DATABASE_CONNECTION_URL", Aliases: []string{"PREFECT_API_DATABASE_CONNECTION_URL"},
		Default: "sqlite+aiosqlite:///$PREFECT_HOME/prefect.db", Kind: KindString, Secret: true, redact: redactURL,
		Doc: "Database URL, SQLAlchemy style (sqlite+aiosqlite:///path or postgresql+asyncpg://user:pass@host/db); ${PREFECT_SERVER_DATABASE_PASSWORD} in it is replaced by the password; when unset it is built from the driver/host/... settings, else SQLite in PREFECT_HOME."},
	{Name: "database.driver", Env: "PREFECT_SERVER_DATABASE_DRIVER", Aliases: []string{"PREFECT_API_DATABASE_DRIVER"},
		Kind: KindEnum, Enum: dbDrivers, Doc: "Driver for building the URL from parts; postgresql+asyncpg is assumed when only the host is set."},
	{Name: "database.host", Env: "PREFECT_SERVER_DATABASE_HOST", Aliases: []string{"PREFECT_API_DATABASE_HOST"},
		Kind: KindString, Doc: "Database server host, for building the URL from parts."},
	{Name: "database.port", Env: "PREFECT_SERVER_DATABASE_PORT", Aliases: []string{"PREFECT_API_DATABASE_PORT"},
		Kind: KindInt, Min: new(1.0), Max: new(65535.0), Doc: "Database server port, for building the URL from parts; PostgreSQL's 5432 when unset."},
	{Name: "database.user", Env: "PREFECT_SERVER_DATABASE_USER", Aliases: []string{"PREFECT_API_DATABASE_USER"},
		Kind: KindString, Doc: "Database user, for building the URL from parts."},
	{Name: "database.name", Env: "PREFECT_SERVER_DATABASE_NAME", Aliases: []string{"PREFECT_API_DATABASE_NAME"},
		Kind: KindString, Doc: "Database name, or the database file for SQLite, for building the URL from parts."},
	{Name: "database.password", Env: "PREFECT_SERVER_DATABASE_PASSWORD", Aliases: []string{"PREFECT_API_DATABASE_PASSWORD"},
		Kind: KindString, Secret: true, Doc: "Database password, for building the URL from parts."},
	{Name: "database.migrate_on_start", Env: "PREFECT_SERVER_DATABASE_MIGRATE_ON_START", Aliases: []string{"PREFECT_API_DATABASE_MIGRATE_ON_START"},
		Default: "true", Kind: KindBool, Doc: "Apply pending schema migrations when the server starts."},
	{Name: "database.timeout", Env: "PREFECT_SERVER_DATABASE_TIMEOUT", Aliases: []string{"PREFECT_API_DATABASE_TIMEOUT"},
		Default: "10", Kind: KindSeconds, Min: new(0.0), Doc: "Statement timeout for API queries; 0 disables it."},
	{Name: "database.connection_timeout", Env: "PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT", Aliases: []string{"PREFECT_API_DATABASE_CONNECTION_TIMEOUT"},
		Default: "5", Kind: KindSeconds, Min: new(0.0), Doc: "Timeout for opening a database connection; 0 disables it."},
	{Name: "database.migration_timeout", Env: "PREFECT_SERVER_DATABASE_MIGRATION_TIMEOUT", Default: "0", Kind: KindSeconds, Min: new(0.0),
		Doc: "Statement timeout for migrations, which may build large indexes; 0 (the default) disables it."},
	{Name: "database.pool_size", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE", Aliases: []string{"PREFECT_SQLALCHEMY_POOL_SIZE"},
		Default: "5", Kind: KindInt, Min: new(1.0), Doc: "Connections the pool keeps; with max_overflow, the most open at once. A PostgreSQL connection unused for a minute is closed."},
	{Name: "database.max_overflow", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW", Aliases: []string{"PREFECT_SQLALCHEMY_MAX_OVERFLOW"},
		Default: "10", Kind: KindInt, Min: new(-1.0), Doc: "Connections opened beyond pool_size under load; -1 means no limit, as in SQLAlchemy."},
	{Name: "database.pool_recycle", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_RECYCLE", Default: "3600", Kind: KindSeconds, Min: new(-1.0), check: checkPoolRecycle,
		Doc: "Close pooled connections older than this; -1 never recycles them."},
	{Name: "database.pool_timeout", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_TIMEOUT", Default: "30", Kind: KindSeconds, Min: new(0.0),
		Doc: "How long to wait for a free pooled connection; 0 waits forever."},
	{Name: "database.application_name", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME", Kind: KindString,
		Doc: "PostgreSQL application_name of the server's connections."},
	{Name: "database.search_path", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_SEARCH_PATH", Kind: KindString,
		Doc: "PostgreSQL search_path, e.g. \"prefect, public\"; keep public in it for the pg_trgm extension."},
	{Name: "database.tls.enabled", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED", Default: "false", Kind: KindBool,
		Doc: "Connect to PostgreSQL over (mutual) TLS."},
	{Name: "database.tls.ca_file", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE", Kind: KindString,
		Doc: "CA bundle that verifies the PostgreSQL server."},
	{Name: "database.tls.cert_file", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CERT_FILE", Kind: KindString,
		Doc: "Client certificate for PostgreSQL TLS."},
	{Name: "database.tls.key_file", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_KEY_FILE", Kind: KindString,
		Doc: "Client key for PostgreSQL TLS."},
	{Name: "database.tls.check_hostname", Env: "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME", Default: "true", Kind: KindBool,
		Doc: "Verify that the PostgreSQL server's certificate matches its host name."},

	// logging
	{Name: "logging.level", Env: "PREFECT_SERVER_LOGGING_LEVEL", Aliases: []string{"PREFECT_LOGGING_SERVER_LEVEL"},
		Default: "WARNING", Kind: KindEnum, Enum: logLevels, Doc: "Least severe level the server logs."},

	// events
	{Name: "events.maximum_size_bytes", Env: "PREFECT_SERVER_EVENTS_MAXIMUM_SIZE_BYTES", Aliases: []string{"PREFECT_EVENTS_MAXIMUM_SIZE_BYTES"},
		Default: "1500000", Kind: KindSize, Min: new(1.0), Doc: "Largest event accepted, serialized as JSON, in bytes."},
	{Name: "events.maximum_related_resources", Env: "PREFECT_SERVER_EVENTS_MAXIMUM_RELATED_RESOURCES", Aliases: []string{"PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES"},
		Default: "100", Kind: KindInt, Min: new(0.0), Doc: "Most related resources one event may carry."},
	{Name: "events.maximum_labels_per_resource", Env: "PREFECT_SERVER_EVENTS_MAXIMUM_LABELS_PER_RESOURCE", Aliases: []string{"PREFECT_EVENTS_MAXIMUM_LABELS_PER_RESOURCE"},
		Default: "500", Kind: KindInt, Min: new(0.0), Doc: "Most labels one resource may carry."},
	{Name: "events.maximum_event_name_length", Env: "PREFECT_SERVER_EVENTS_MAXIMUM_EVENT_NAME_LENGTH",
		Default: "1024", Kind: KindInt, Min: new(1.0), Doc: "Longest event name accepted, in characters."},
	{Name: "events.retention_period", Env: "PREFECT_SERVER_EVENTS_RETENTION_PERIOD", Aliases: []string{"PREFECT_EVENTS_RETENTION_PERIOD"},
		Default: "P7D", Kind: KindDuration, Min: new(0.0), ExclusiveMin: true, Doc: "How long events are kept in the database."},
	{Name: "events.maximum_websocket_backfill", Env: "PREFECT_SERVER_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL", Aliases: []string{"PREFECT_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL"},
		Default: "PT15M", Kind: KindDuration, Min: new(0.0), Doc: "How far back a new events WebSocket subscriber is sent past events."},
	{Name: "events.websocket_backfill_page_size", Env: "PREFECT_SERVER_EVENTS_WEBSOCKET_BACKFILL_PAGE_SIZE", Aliases: []string{"PREFECT_EVENTS_WEBSOCKET_BACKFILL_PAGE_SIZE"},
		Default: "250", Kind: KindInt, Min: new(1.0), Doc: "Events read per query while backfilling a WebSocket subscriber."},
	{Name: "events.stream_out_enabled", Env: "PREFECT_SERVER_EVENTS_STREAM_OUT_ENABLED", Aliases: []string{"PREFECT_API_EVENTS_STREAM_OUT_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Stream events to WebSocket subscribers (/api/events/out)."},
	{Name: "events.related_resource_cache_ttl", Env: "PREFECT_SERVER_EVENTS_RELATED_RESOURCE_CACHE_TTL", Aliases: []string{"PREFECT_API_EVENTS_RELATED_RESOURCE_CACHE_TTL"},
		Default: "PT5M", Kind: KindDuration, Min: new(0.0), Doc: "How long related resources looked up for events are cached."},
	{Name: "events.expired_bucket_buffer", Env: "PREFECT_SERVER_EVENTS_EXPIRED_BUCKET_BUFFER", Aliases: []string{"PREFECT_EVENTS_EXPIRED_BUCKET_BUFFER"},
		Default: "PT1M", Kind: KindDuration, Min: new(0.0), Doc: "How long expired automation buckets are kept."},
	{Name: "events.proactive_granularity", Env: "PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY", Aliases: []string{"PREFECT_EVENTS_PROACTIVE_GRANULARITY"},
		Default: "PT5S", Kind: KindDuration, Min: new(0.0), ExclusiveMin: true, Doc: "How often proactive automation triggers are evaluated."},

	// deployments
	{Name: "deployments.max_scheduled_runs", Env: "PREFECT_SERVER_DEPLOYMENT_SCHEDULE_MAX_SCHEDULED_RUNS", Aliases: []string{"PREFECT_DEPLOYMENT_SCHEDULE_MAX_SCHEDULED_RUNS"},
		Default: "50", Kind: KindInt, Min: new(1.0), Doc: "Upper bound on a schedule's max_scheduled_runs."},
	{Name: "deployments.concurrency_slot_wait_seconds", Env: "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", Aliases: []string{"PREFECT_DEPLOYMENT_CONCURRENCY_SLOT_WAIT_SECONDS"},
		Default: "30", Kind: KindFloat, Min: new(0.0), Doc: "Seconds before a deployment run that found no concurrency slot is retried (AwaitingConcurrencySlot)."},

	// tasks
	{Name: "tasks.tag_concurrency_slot_wait_seconds", Env: "PREFECT_SERVER_TASKS_TAG_CONCURRENCY_SLOT_WAIT_SECONDS", Aliases: []string{"PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS"},
		Default: "10", Kind: KindFloat, Min: new(0.0), Doc: "Seconds before a task run that found no tag concurrency slot is retried."},
	{Name: "tasks.max_cache_key_length", Env: "PREFECT_SERVER_TASKS_MAX_CACHE_KEY_LENGTH", Aliases: []string{"PREFECT_API_TASK_CACHE_KEY_MAX_LENGTH"},
		Default: "2000", Kind: KindInt, Min: new(1.0), Doc: "Longest task-run cache key accepted, in characters."},
	{Name: "tasks.scheduling.max_scheduled_queue_size", Env: "PREFECT_SERVER_TASKS_SCHEDULING_MAX_SCHEDULED_QUEUE_SIZE", Aliases: []string{"PREFECT_TASK_SCHEDULING_MAX_SCHEDULED_QUEUE_SIZE"},
		Default: "1000", Kind: KindInt, Min: new(1.0), Doc: "Prefect's bound on its in-memory queue of background tasks; the queue here is in the database and unbounded, so it is accepted and not applied."},
	{Name: "tasks.scheduling.max_retry_queue_size", Env: "PREFECT_SERVER_TASKS_SCHEDULING_MAX_RETRY_QUEUE_SIZE", Aliases: []string{"PREFECT_TASK_SCHEDULING_MAX_RETRY_QUEUE_SIZE"},
		Default: "100", Kind: KindInt, Min: new(1.0), Doc: "Prefect's bound on its in-memory queue of background-task retries; accepted and not applied (the queue here is in the database)."},
	{Name: "tasks.scheduling.pending_task_timeout", Env: "PREFECT_SERVER_TASKS_SCHEDULING_PENDING_TASK_TIMEOUT", Aliases: []string{"PREFECT_TASK_SCHEDULING_PENDING_TASK_TIMEOUT"},
		Default: "PT0S", Kind: KindDuration, Min: new(0.0), Doc: "Meant to hand a PENDING background task to another task worker after this long; Prefect 3.9.1's server does not read it, nor does this one."},

	// concurrency
	{Name: "concurrency.initial_deployment_lease_duration", Env: "PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION",
		Default: "300", Kind: KindSeconds, Min: new(30.0), Max: new(3600.0), Doc: "Initial lease on a deployment concurrency slot, renewed by the run's heartbeats."},
	{Name: "concurrency.maximum_concurrency_slot_wait_seconds", Env: "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS",
		Default: "30", Kind: KindFloat, Min: new(0.0), Doc: "Cap on the Retry-After seconds sent when no concurrency slot is free."},

	// flow_run_graph
	{Name: "flow_run_graph.max_nodes", Env: "PREFECT_SERVER_FLOW_RUN_GRAPH_MAX_NODES", Aliases: []string{"PREFECT_API_MAX_FLOW_RUN_GRAPH_NODES"},
		Default: "10000", Kind: KindInt, Min: new(1.0), Doc: "Most nodes in a v2 flow-run graph."},
	{Name: "flow_run_graph.max_artifacts", Env: "PREFECT_SERVER_FLOW_RUN_GRAPH_MAX_ARTIFACTS", Aliases: []string{"PREFECT_API_MAX_FLOW_RUN_GRAPH_ARTIFACTS"},
		Default: "10000", Kind: KindInt, Min: new(0.0), Doc: "Most artifacts shown on a v2 flow-run graph."},

	// logs
	{Name: "logs.stream_out_enabled", Env: "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED", Default: "false", Kind: KindBool,
		Doc: "Stream logs to WebSocket subscribers (/api/logs/out)."},
	{Name: "logs.stream_publishing_enabled", Env: "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED", Default: "false", Kind: KindBool,
		Doc: "Publish incoming logs to the stream that feeds subscribers."},

	// ui
	{Name: "ui.enabled", Env: "PREFECT_SERVER_UI_ENABLED", Aliases: []string{"PREFECT_UI_ENABLED"}, Default: "true", Kind: KindBool,
		Doc: "Serve the Prefect UI; /ui-settings is served either way."},
	{Name: "ui.v2_enabled", Env: "PREFECT_SERVER_UI_V2_ENABLED", Default: "true", Kind: KindBool,
		Doc: "Open the V2 UI for browsers with no saved UI preference; false opens the V1 UI."},
	// PREFECT_API_URL is the client's setting, which Prefect's UI falls back on.
	{Name: "ui.api_url", Env: "PREFECT_SERVER_UI_API_URL", Aliases: []string{"PREFECT_UI_API_URL", "PREFECT_API_URL"}, Kind: KindString,
		Doc: "API URL the UI talks to; unset (here and in PREFECT_API_URL) means http://<api.host>:<api.port>/api, as in Prefect (always /api, whatever the base path)."},
	{Name: "ui.serve_base", Env: "PREFECT_SERVER_UI_SERVE_BASE", Aliases: []string{"PREFECT_UI_SERVE_BASE"}, Default: "/", Kind: KindString,
		Doc: "URL path of the V1 UI; the V2 UI is at <base>/v2. A base ending in /v2 is the V2 UI's path, the V1 UI's being the rest."},
	{Name: "ui.static_directory", Env: "PREFECT_SERVER_UI_STATIC_DIRECTORY", Aliases: []string{"PREFECT_UI_STATIC_DIRECTORY"}, Kind: KindString,
		Doc: "Directory of the UI bundles, laid out as Prefect lays it out: v1/ and v2/ (or the V1 bundle itself when it holds a UI_SERVE_BASE file, with v2/ inside). hack/ui-assets.sh prints one, taken from the prefect wheel; unset means no UI."},
	{Name: "ui.show_promotional_content", Env: "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT", Default: "true", Kind: KindBool,
		Doc: "Show upgrade prompts and marketing banners in the UI."},

	// services.scheduler
	{Name: "services.scheduler.enabled", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Run the scheduler, which creates runs for deployment schedules."},
	{Name: "services.scheduler.loop_seconds", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_LOOP_SECONDS"},
		Default: "60", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often the scheduler visits every deployment."},
	{Name: "services.scheduler.recent_deployments_loop_seconds", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS",
		Default: "5", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often the scheduler looks for recently changed deployments."},
	{Name: "services.scheduler.deployment_batch_size", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_DEPLOYMENT_BATCH_SIZE", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_DEPLOYMENT_BATCH_SIZE"},
		Default: "100", Kind: KindInt, Min: new(1.0), Doc: "Deployments scheduled per batch; batches follow each other without waiting for the loop."},
	{Name: "services.scheduler.max_runs", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_MAX_RUNS"},
		Default: "100", Kind: KindInt, Min: new(1.0), Doc: "Most future auto-scheduled runs per schedule."},
	{Name: "services.scheduler.min_runs", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_MIN_RUNS"},
		Default: "3", Kind: KindInt, Min: new(0.0), Doc: "Fewest future auto-scheduled runs per schedule."},
	{Name: "services.scheduler.max_scheduled_time", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME"},
		Default: "P100D", Kind: KindDuration, Min: new(0.0), ExclusiveMin: true, Doc: "How far ahead runs are scheduled; wins over max_runs."},
	{Name: "services.scheduler.min_scheduled_time", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME"},
		Default: "PT1H", Kind: KindDuration, Min: new(0.0), Doc: "Schedule at least this far ahead; wins over min_runs."},
	{Name: "services.scheduler.insert_batch_size", Env: "PREFECT_SERVER_SERVICES_SCHEDULER_INSERT_BATCH_SIZE", Aliases: []string{"PREFECT_API_SERVICES_SCHEDULER_INSERT_BATCH_SIZE"},
		Default: "500", Kind: KindInt, Min: new(1.0), Doc: "Runs inserted per statement."},

	// services.late_runs
	{Name: "services.late_runs.enabled", Env: "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_LATE_RUNS_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Run the service that marks overdue scheduled runs Late."},
	{Name: "services.late_runs.loop_seconds", Env: "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_LATE_RUNS_LOOP_SECONDS"},
		Default: "5", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often to look for late runs."},
	{Name: "services.late_runs.after_seconds", Env: "PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_LATE_RUNS_AFTER_SECONDS"},
		Default: "15", Kind: KindSeconds, Min: new(0.0), Doc: "How far past its scheduled start a run becomes Late."},

	// services.pause_expirations
	{Name: "services.pause_expirations.enabled", Env: "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_PAUSE_EXPIRATIONS_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Run the service that fails paused runs whose pause timed out."},
	{Name: "services.pause_expirations.loop_seconds", Env: "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS"},
		Default: "5", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often to look for expired pauses."},

	// services.cancellation_cleanup
	{Name: "services.cancellation_cleanup.enabled", Env: "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_CANCELLATION_CLEANUP_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Run the service that cancels child task runs and subflows of cancelled runs."},
	{Name: "services.cancellation_cleanup.loop_seconds", Env: "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS"},
		Default: "20", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often to look for children of cancelled runs."},

	// services.foreman
	{Name: "services.foreman.enabled", Env: "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_FOREMAN_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Run the foreman, which marks silent workers offline and unpolled work queues and deployments not ready."},
	{Name: "services.foreman.loop_seconds", Env: "PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_FOREMAN_LOOP_SECONDS"},
		Default: "15", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often the foreman checks."},
	{Name: "services.foreman.inactivity_heartbeat_multiple", Env: "PREFECT_SERVER_SERVICES_FOREMAN_INACTIVITY_HEARTBEAT_MULTIPLE", Aliases: []string{"PREFECT_API_SERVICES_FOREMAN_INACTIVITY_HEARTBEAT_MULTIPLE"},
		Default: "3", Kind: KindInt, Min: new(1.0), Doc: "Missed heartbeats after which a worker is offline."},
	{Name: "services.foreman.fallback_heartbeat_interval_seconds", Env: "PREFECT_SERVER_SERVICES_FOREMAN_FALLBACK_HEARTBEAT_INTERVAL_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_FOREMAN_FALLBACK_HEARTBEAT_INTERVAL_SECONDS"},
		Default: "30", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "Heartbeat interval assumed for a worker that did not report one."},
	{Name: "services.foreman.deployment_last_polled_timeout_seconds", Env: "PREFECT_SERVER_SERVICES_FOREMAN_DEPLOYMENT_LAST_POLLED_TIMEOUT_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_FOREMAN_DEPLOYMENT_LAST_POLLED_TIMEOUT_SECONDS"},
		Default: "60", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "A deployment not polled for this long is not ready."},
	{Name: "services.foreman.work_queue_last_polled_timeout_seconds", Env: "PREFECT_SERVER_SERVICES_FOREMAN_WORK_QUEUE_LAST_POLLED_TIMEOUT_SECONDS", Aliases: []string{"PREFECT_API_SERVICES_FOREMAN_WORK_QUEUE_LAST_POLLED_TIMEOUT_SECONDS"},
		Default: "60", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "A work queue not polled for this long is not ready."},

	// services.event_persister
	{Name: "services.event_persister.enabled", Env: "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_EVENT_PERSISTER_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Write events to the database."},
	{Name: "services.event_persister.batch_size", Env: "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE", Aliases: []string{"PREFECT_API_SERVICES_EVENT_PERSISTER_BATCH_SIZE"},
		Default: "500", Kind: KindInt, Min: new(1.0), Doc: "Events written per batch. Prefect's default is 20, at which a busy server's persister falls behind its events (Prefect writes its whole queue once this many wait)."},
	{Name: "services.event_persister.flush_interval", Env: "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", Aliases: []string{"PREFECT_API_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL"},
		Default: "0.1", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "Longest wait of fewer than 64 queued events for more before they are written. Prefect's default is 5, at which a quiet server's events are stored up to 5 s late."},
	{Name: "services.event_persister.queue_max_size", Env: "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_QUEUE_MAX_SIZE",
		Default: "50000", Kind: KindInt, Min: new(1.0), Doc: "Events held in memory awaiting a write; further events are dropped."},
	{Name: "services.event_persister.max_flush_retries", Env: "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_MAX_FLUSH_RETRIES",
		Default: "5", Kind: KindInt, Min: new(1.0), Doc: "Consecutive failed writes after which the batch is dropped."},

	// services.task_run_recorder
	{Name: "services.task_run_recorder.enabled", Env: "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_TASK_RUN_RECORDER_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Record task runs from the task-run events clients send."},
	{Name: "services.task_run_recorder.batch_size", Env: "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE",
		Default: "100", Kind: KindInt, Min: new(1.0), Doc: "Task runs written per batch, each with every state of it that is queued. Prefect's default is 1, at which a busy server's recorder falls behind its task runs' events."},
	{Name: "services.task_run_recorder.flush_interval", Env: "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL",
		Default: "5", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "Longest wait before a partial batch is written."},

	// services.triggers
	{Name: "services.triggers.enabled", Env: "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_TRIGGERS_ENABLED"},
		Default: "true", Kind: KindBool, Doc: "Evaluate automation triggers and run their actions."},
	{Name: "services.triggers.pg_notify_reconnect_interval_seconds", Env: "PREFECT_SERVER_SERVICES_TRIGGERS_PG_NOTIFY_RECONNECT_INTERVAL_SECONDS",
		Default: "10", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "Wait before reconnecting a failed PostgreSQL LISTEN connection."},
	{Name: "services.triggers.pg_notify_heartbeat_interval_seconds", Env: "PREFECT_SERVER_SERVICES_TRIGGERS_PG_NOTIFY_HEARTBEAT_INTERVAL_SECONDS",
		Default: "5", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often a PostgreSQL LISTEN connection is checked."},

	// services.event_logger
	{Name: "services.event_logger.enabled", Env: "PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED", Aliases: []string{"PREFECT_API_SERVICES_EVENT_LOGGER_ENABLED"},
		Default: "false", Kind: KindBool, Doc: "Log every event, for debugging."},

	// services.repossessor
	{Name: "services.repossessor.enabled", Env: "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED",
		Default: "true", Kind: KindBool, Doc: "Reclaim concurrency slots whose lease expired."},
	{Name: "services.repossessor.loop_seconds", Env: "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS",
		Default: "15", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often to look for expired leases."},

	// services.retention
	{Name: "services.retention.enabled", Env: "PREFECT_SERVER_SERVICES_RETENTION_ENABLED", Default: "true", Kind: KindBool, Extension: true,
		Doc: "Delete events older than the events retention period (in the server, also only while services.db_vacuum.enabled includes events)."},
	{Name: "services.retention.loop_seconds", Env: "PREFECT_SERVER_SERVICES_RETENTION_LOOP_SECONDS", Default: "3600", Kind: KindSeconds, Extension: true,
		Min: new(0.0), ExclusiveMin: true, Doc: "How often retention runs."},
	{Name: "services.retention.batch_size", Env: "PREFECT_SERVER_SERVICES_RETENTION_BATCH_SIZE", Default: "1000", Kind: KindInt, Extension: true,
		Min: new(1.0), Doc: "Events deleted per transaction, so a pass never holds the database for long."},

	// services.db_vacuum
	{Name: "services.db_vacuum.enabled", Env: "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", Default: "events", Kind: KindList, Enum: vacuumKinds,
		legacy: map[string]string{"true": "events,flow_runs", "1": "events,flow_runs", "false": "events", "0": "events", "null": "[]"},
		Doc:    "What to vacuum: events (past the events retention period), flow_runs (old finished runs and orphans); [] for nothing. true and false mean events,flow_runs and events, as in Prefect."},
	{Name: "services.db_vacuum.loop_seconds", Env: "PREFECT_SERVER_SERVICES_DB_VACUUM_LOOP_SECONDS",
		Default: "3600", Kind: KindSeconds, Min: new(0.0), ExclusiveMin: true, Doc: "How often the vacuum runs."},
	{Name: "services.db_vacuum.retention_period", Env: "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD",
		Default: "P90D", Kind: KindDuration, Min: new(3600.0), ExclusiveMin: true, Doc: "Age (since end time) past which a finished flow run is deleted."},
	{Name: "services.db_vacuum.batch_size", Env: "PREFECT_SERVER_SERVICES_DB_VACUUM_BATCH_SIZE",
		Default: "200", Kind: KindInt, Min: new(1.0), Doc: "Rows deleted per transaction."},
}
