package settings

import (
	"bufio"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testHome = "/home/test"

// env returns a lookup over vars plus HOME, so "~" resolves the same on
// every machine.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := vars[name]; ok {
			return v, true
		}
		if name == "HOME" {
			return testHome, true
		}
		return "", false
	}
}

func row(t *testing.T, name string) Setting {
	t.Helper()
	for _, st := range Table() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no row %s", name)
	return Setting{}
}

func load(t *testing.T, vars map[string]string) Settings {
	t.Helper()
	s, err := Load(env(vars))
	require.NoError(t, err)
	return s
}

// joined flattens an errors.Join result into its *Error parts.
func joined(t *testing.T, err error) []*Error {
	t.Helper()
	require.Error(t, err)
	var out []*Error
	multi, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "want errors.Join, got %T", err)
	for _, e := range multi.Unwrap() {
		var se *Error
		require.True(t, errors.As(e, &se), "want *Error, got %T", e)
		out = append(out, se)
	}
	return out
}

func TestDefaultsMatchTable(t *testing.T) {
	t.Parallel()

	s := load(t, nil)
	for _, st := range Table() {
		want := st.Default
		switch st.Name {
		case "home":
			want = testHome + "/.prefect"
		case "database.connection_url":
			want = "sqlite+aiosqlite:///" + testHome + "/.prefect/prefect.db"
		}
		require.Equal(t, want, st.Value(s), "%s", st.Env)
	}
	require.Equal(t, s.Services, Defaults().Services)
}

// The values other packages were promised, checked on the typed fields.
func TestDefaultsTyped(t *testing.T) {
	t.Parallel()

	s := load(t, nil)
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"home", s.Home, testHome + "/.prefect"},
		{"api.host", s.API.Host, "127.0.0.1"},
		{"api.port", s.API.Port, 4200},
		{"api.base_path", s.API.BasePath, "/api"},
		{"api.keepalive_timeout", s.API.KeepAliveTimeout, 5 * time.Second},
		{"api.max_body_size", s.API.MaxBodySize, int64(16 << 20)},
		{"api.max_connections", s.API.MaxConnections, 1000},
		{"api.default_limit", s.API.DefaultLimit, 200},
		{"api.auth_string", s.API.AuthString, ""},
		{"api.csrf_protection_enabled", s.API.CSRFProtectionEnabled, false},
		{"api.csrf_token_expiration", s.API.CSRFTokenExpiration, time.Hour},
		{"api.cors_allowed_origins", s.API.CORSAllowedOrigins, "*"},
		{"api.websocket_ping_interval", s.API.WebsocketPingInterval, 20 * time.Second},
		{"api.websocket_ping_timeout", s.API.WebsocketPingTimeout, 20 * time.Second},
		{"api.max_parameter_size", s.API.MaxParameterSize, int64(524288)},
		{"api.request_timeout", s.API.RequestTimeout, 60 * time.Second},
		{"database.connection_url", s.Database.ConnectionURL, "sqlite+aiosqlite:////home/test/.prefect/prefect.db"},
		{"database.port", s.Database.Port, 0},
		{"database.timeout", s.Database.Timeout, 10 * time.Second},
		{"database.connection_timeout", s.Database.ConnectionTimeout, 5 * time.Second},
		{"database.migrate_on_start", s.Database.MigrateOnStart, true},
		{"database.pool_size", s.Database.PoolSize, 5},
		{"database.max_overflow", s.Database.MaxOverflow, 10},
		{"database.pool_recycle", s.Database.PoolRecycle, time.Hour},
		{"database.pool_timeout", s.Database.PoolTimeout, 30 * time.Second},
		{"logging.level", s.Logging.Level, "WARNING"},
		{"events.maximum_size_bytes", s.Events.MaximumSizeBytes, int64(1_500_000)},
		{"events.maximum_related_resources", s.Events.MaximumRelatedResources, 100},
		{"events.maximum_labels_per_resource", s.Events.MaximumLabelsPerResource, 500},
		{"events.maximum_event_name_length", s.Events.MaximumEventNameLength, 1024},
		{"events.retention_period", s.Events.RetentionPeriod, 7 * 24 * time.Hour},
		{"events.maximum_websocket_backfill", s.Events.MaximumWebsocketBackfill, 15 * time.Minute},
		{"events.websocket_backfill_page_size", s.Events.WebsocketBackfillPageSize, 250},
		{"events.stream_out_enabled", s.Events.StreamOutEnabled, true},
		{"deployments.max_scheduled_runs", s.Deployments.MaxScheduledRuns, 50},
		{"deployments.concurrency_slot_wait_seconds", s.Deployments.ConcurrencySlotWaitSeconds, 30.0},
		{"tasks.tag_concurrency_slot_wait_seconds", s.Tasks.TagConcurrencySlotWaitSeconds, 10.0},
		{"tasks.max_cache_key_length", s.Tasks.MaxCacheKeyLength, 2000},
		{"concurrency.initial_deployment_lease_duration", s.Concurrency.InitialDeploymentLeaseDuration, 300 * time.Second},
		{"concurrency.maximum_concurrency_slot_wait_seconds", s.Concurrency.MaximumConcurrencySlotWaitSeconds, 30.0},
		{"services.scheduler.enabled", s.Services.Scheduler.Enabled, true},
		{"services.scheduler.loop_seconds", s.Services.Scheduler.LoopSeconds, 60 * time.Second},
		{"services.scheduler.recent_deployments_loop_seconds", s.Services.Scheduler.RecentDeploymentsLoopSeconds, 5 * time.Second},
		{"services.scheduler.deployment_batch_size", s.Services.Scheduler.DeploymentBatchSize, 100},
		{"services.scheduler.max_runs", s.Services.Scheduler.MaxRuns, 100},
		{"services.scheduler.min_runs", s.Services.Scheduler.MinRuns, 3},
		{"services.scheduler.max_scheduled_time", s.Services.Scheduler.MaxScheduledTime, 100 * 24 * time.Hour},
		{"services.scheduler.min_scheduled_time", s.Services.Scheduler.MinScheduledTime, time.Hour},
		{"services.scheduler.insert_batch_size", s.Services.Scheduler.InsertBatchSize, 500},
		{"services.late_runs.loop_seconds", s.Services.LateRuns.LoopSeconds, 5 * time.Second},
		{"services.late_runs.after_seconds", s.Services.LateRuns.AfterSeconds, 15 * time.Second},
		{"services.pause_expirations.loop_seconds", s.Services.PauseExpirations.LoopSeconds, 5 * time.Second},
		{"services.cancellation_cleanup.loop_seconds", s.Services.CancellationCleanup.LoopSeconds, 20 * time.Second},
		{"services.foreman.loop_seconds", s.Services.Foreman.LoopSeconds, 15 * time.Second},
		{"services.foreman.inactivity_heartbeat_multiple", s.Services.Foreman.InactivityHeartbeatMultiple, 3},
		{"services.foreman.fallback_heartbeat_interval_seconds", s.Services.Foreman.FallbackHeartbeatIntervalSeconds, 30 * time.Second},
		{"services.foreman.deployment_last_polled_timeout_seconds", s.Services.Foreman.DeploymentLastPolledTimeoutSeconds, 60 * time.Second},
		{"services.foreman.work_queue_last_polled_timeout_seconds", s.Services.Foreman.WorkQueueLastPolledTimeoutSeconds, 60 * time.Second},
		{"services.event_persister.enabled", s.Services.EventPersister.Enabled, true},
		{"services.event_persister.batch_size", s.Services.EventPersister.BatchSize, 500},
		{"services.event_persister.flush_interval", s.Services.EventPersister.FlushInterval, 100 * time.Millisecond},
		{"services.task_run_recorder.enabled", s.Services.TaskRunRecorder.Enabled, true},
		{"services.repossessor.loop_seconds", s.Services.Repossessor.LoopSeconds, 15 * time.Second},
		{"services.triggers.enabled", s.Services.Triggers.Enabled, true},
		{"services.event_logger.enabled", s.Services.EventLogger.Enabled, false},
		{"services.retention.enabled", s.Services.Retention.Enabled, true},
		{"services.retention.loop_seconds", s.Services.Retention.LoopSeconds, time.Hour},
		{"services.retention.batch_size", s.Services.Retention.BatchSize, 1000},
		{"services.db_vacuum.enabled", s.Services.DBVacuum.Enabled, []string{"events"}},
		{"services.db_vacuum.loop_seconds", s.Services.DBVacuum.LoopSeconds, time.Hour},
		{"services.db_vacuum.retention_period", s.Services.DBVacuum.RetentionPeriod, 90 * 24 * time.Hour},
		{"services.db_vacuum.batch_size", s.Services.DBVacuum.BatchSize, 200},
	} {
		require.Equal(t, tt.want, tt.got, tt.name)
	}
	require.True(t, s.Services.DBVacuum.VacuumEnabled("events"))
	require.False(t, s.Services.DBVacuum.VacuumEnabled("flow_runs"))
}

func TestEnvAndAliases(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		vars map[string]string
		got  func(Settings) any
		want any
	}{
		{
			name: "canonical",
			vars: map[string]string{"PREFECT_SERVER_API_DEFAULT_LIMIT": "50"},
			got:  func(s Settings) any { return s.API.DefaultLimit },
			want: 50,
		},
		{
			name: "alias",
			vars: map[string]string{"PREFECT_API_DEFAULT_LIMIT": "75"},
			got:  func(s Settings) any { return s.API.DefaultLimit },
			want: 75,
		},
		{
			name: "canonical beats alias",
			vars: map[string]string{"PREFECT_SERVER_API_DEFAULT_LIMIT": "50", "PREFECT_API_DEFAULT_LIMIT": "75"},
			got:  func(s Settings) any { return s.API.DefaultLimit },
			want: 50,
		},
		{
			name: "empty canonical counts as unset",
			vars: map[string]string{"PREFECT_SERVER_API_DEFAULT_LIMIT": "", "PREFECT_API_DEFAULT_LIMIT": "75"},
			got:  func(s Settings) any { return s.API.DefaultLimit },
			want: 75,
		},
		{
			name: "invalid alias is not consulted when canonical is set",
			vars: map[string]string{"PREFECT_SERVER_API_DEFAULT_LIMIT": "50", "PREFECT_API_DEFAULT_LIMIT": "lots"},
			got:  func(s Settings) any { return s.API.DefaultLimit },
			want: 50,
		},
		{
			name: "legacy service alias",
			vars: map[string]string{"PREFECT_API_SERVICES_SCHEDULER_LOOP_SECONDS": "PT2M"},
			got:  func(s Settings) any { return s.Services.Scheduler.LoopSeconds },
			want: 2 * time.Minute,
		},
		{
			name: "legacy service toggle",
			vars: map[string]string{"PREFECT_API_SERVICES_LATE_RUNS_ENABLED": "off"},
			got:  func(s Settings) any { return s.Services.LateRuns.Enabled },
			want: false,
		},
		{
			name: "log level alias, any case",
			vars: map[string]string{"PREFECT_LOGGING_SERVER_LEVEL": "debug"},
			got:  func(s Settings) any { return s.Logging.Level },
			want: "DEBUG",
		},
		{
			name: "csrf alias",
			vars: map[string]string{"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"},
			got:  func(s Settings) any { return s.API.CSRFProtectionEnabled },
			want: true,
		},
		{
			name: "pool size alias",
			vars: map[string]string{"PREFECT_SQLALCHEMY_POOL_SIZE": "20"},
			got:  func(s Settings) any { return s.Database.PoolSize },
			want: 20,
		},
		{
			name: "connection url alias",
			vars: map[string]string{"PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://u:p@db/prefect"},
			got:  func(s Settings) any { return s.Database.ConnectionURL },
			want: "postgresql+asyncpg://u:p@db/prefect",
		},
		{
			name: "events alias",
			vars: map[string]string{"PREFECT_EVENTS_RETENTION_PERIOD": "P30D"},
			got:  func(s Settings) any { return s.Events.RetentionPeriod },
			want: 30 * 24 * time.Hour,
		},
		{
			name: "home moves the database",
			vars: map[string]string{"PREFECT_HOME": "/data"},
			got:  func(s Settings) any { return s.Database.ConnectionURL },
			want: "sqlite+aiosqlite:////data/prefect.db",
		},
		{
			name: "home with tilde",
			vars: map[string]string{"PREFECT_HOME": "~/elsewhere"},
			got:  func(s Settings) any { return s.Home },
			want: testHome + "/elsewhere",
		},
		{
			name: "the UI's API URL is the client's when set",
			vars: map[string]string{"PREFECT_API_URL": "https://prefect.example/api"},
			got:  func(s Settings) any { return s.UI.APIURL },
			want: "https://prefect.example/api",
		},
		{
			name: "the UI's own API URL wins",
			vars: map[string]string{"PREFECT_UI_API_URL": "https://ui.example/api", "PREFECT_API_URL": "https://prefect.example/api"},
			got:  func(s Settings) any { return s.UI.APIURL },
			want: "https://ui.example/api",
		},
		{
			name: "a serve base without a leading slash is taken, as Prefect takes it",
			vars: map[string]string{"PREFECT_UI_SERVE_BASE": "prefect/"},
			got:  func(s Settings) any { return s.UI.ServeBase },
			want: "prefect/",
		},
		{
			name: "strings are kept as given",
			vars: map[string]string{"PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": " https://a.example, https://b.example"},
			got:  func(s Settings) any { return s.API.CORSAllowedOrigins },
			want: " https://a.example, https://b.example",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.got(load(t, tt.vars)))
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{
			name: "postgres from parts",
			vars: map[string]string{
				"PREFECT_SERVER_DATABASE_DRIVER": "postgresql+asyncpg", "PREFECT_SERVER_DATABASE_HOST": "db",
				"PREFECT_SERVER_DATABASE_USER": "prefect", "PREFECT_SERVER_DATABASE_PASSWORD": "p@ss:word",
				"PREFECT_SERVER_DATABASE_NAME": "prefect",
			},
			want: "postgresql+asyncpg://prefect:p%40ss%3Aword@db:5432/prefect",
		},
		{
			name: "postgres from legacy parts, own port, no password",
			vars: map[string]string{
				"PREFECT_API_DATABASE_DRIVER": "postgresql+asyncpg", "PREFECT_API_DATABASE_HOST": "db",
				"PREFECT_API_DATABASE_PORT": "6432", "PREFECT_API_DATABASE_USER": "prefect",
				"PREFECT_API_DATABASE_NAME": "prefect",
			},
			want: "postgresql+asyncpg://prefect@db:6432/prefect",
		},
		{
			name: "host alone implies postgres",
			vars: map[string]string{
				"PREFECT_SERVER_DATABASE_HOST": "db", "PREFECT_SERVER_DATABASE_USER": "u", "PREFECT_SERVER_DATABASE_NAME": "n",
			},
			want: "postgresql+asyncpg://u@db:5432/n",
		},
		{
			name: "sqlite with a file name",
			vars: map[string]string{"PREFECT_SERVER_DATABASE_DRIVER": "sqlite+aiosqlite", "PREFECT_SERVER_DATABASE_NAME": "/data/p.db"},
			want: "sqlite+aiosqlite:////data/p.db",
		},
		{
			name: "sqlite driver alone keeps the default file",
			vars: map[string]string{"PREFECT_SERVER_DATABASE_DRIVER": "SQLITE+aiosqlite"},
			want: "sqlite+aiosqlite:////home/test/.prefect/prefect.db",
		},
		{
			name: "a given url wins over parts",
			vars: map[string]string{
				"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://a@b/c",
				"PREFECT_SERVER_DATABASE_DRIVER":         "postgresql+asyncpg", "PREFECT_SERVER_DATABASE_HOST": "db",
			},
			want: "postgresql+asyncpg://a@b/c",
		},
		{
			name: "password template",
			vars: map[string]string{
				"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://u:${PREFECT_SERVER_DATABASE_PASSWORD}@db/p",
				"PREFECT_SERVER_DATABASE_PASSWORD":       "s3cret",
			},
			want: "postgresql+asyncpg://u:s3cret@db/p",
		},
		{
			name: "legacy password template and alias",
			vars: map[string]string{
				"PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://u:${PREFECT_API_DATABASE_PASSWORD}@db/p",
				"PREFECT_API_DATABASE_PASSWORD":       "s3cret",
			},
			want: "postgresql+asyncpg://u:s3cret@db/p",
		},
		{
			name: "$PREFECT_HOME in a given url",
			vars: map[string]string{"PREFECT_SERVER_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///${PREFECT_HOME}/other.db"},
			want: "sqlite+aiosqlite:////home/test/.prefect/other.db",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, load(t, tt.vars).Database.ConnectionURL)
		})
	}
}

// Each kind, through a representative row, from raw text to the value
// written back.
func TestKindsParse(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		setting string
		raw     string
		want    string // formatted; "" means the raw value must be rejected
	}{
		// duration, printed ISO 8601
		{"events.retention_period", "PT15S", "PT15S"},
		{"events.retention_period", "P7D", "P7D"},
		{"events.retention_period", "PT1H30M", "PT1H30M"},
		{"events.retention_period", "P1DT2H", "P1DT2H"},
		{"events.retention_period", "PT0.5S", "PT0.5S"},
		{"events.retention_period", "PT0,25S", "PT0.25S"},
		{"events.retention_period", "pt90m", "PT1H30M"},
		{"events.retention_period", "P2W", "P14D"},
		{"events.retention_period", "P1M", "P30D"},
		{"events.retention_period", "P1Y", "P365D"},
		{"events.retention_period", "P0.5D", "PT12H"},
		{"events.retention_period", "5", "PT5S"},
		{"events.retention_period", "2.5", "PT2.5S"},
		{"events.retention_period", " 86400 ", "P1D"},
		{"events.retention_period", "P", ""},
		{"events.retention_period", "PT", ""},
		{"events.retention_period", "P1DT", ""},
		{"events.retention_period", "P1H", ""},
		{"events.retention_period", "PT1D", ""},
		{"events.retention_period", "PT5S1M", ""},
		{"events.retention_period", "PT1M1M", ""},
		{"events.retention_period", "PTS", ""},
		{"events.retention_period", "1h", ""},
		{"events.retention_period", "NaN", ""},
		{"events.retention_period", "P9999999999D", ""},
		// seconds: the same input, printed as seconds
		{"services.scheduler.loop_seconds", "PT2M", "120"},
		{"services.scheduler.loop_seconds", "0.25", "0.25"},
		{"services.scheduler.loop_seconds", "90", "90"},
		// size
		{"api.max_body_size", "1048576", "1048576"},
		{"api.max_body_size", "16MiB", "16777216"},
		{"api.max_body_size", "16 mib", "16777216"},
		{"api.max_body_size", "500KB", "500000"},
		{"api.max_body_size", "1GiB", "1073741824"},
		{"api.max_body_size", "2GB", "2000000000"},
		{"api.max_body_size", "10B", "10"},
		{"api.max_body_size", "1.5MiB", ""},
		{"api.max_body_size", "16XB", ""},
		{"api.max_body_size", "MiB", ""},
		{"api.max_body_size", "9999999999TiB", ""},
		// bool
		{"api.csrf_protection_enabled", "true", "true"},
		{"api.csrf_protection_enabled", "True", "true"},
		{"api.csrf_protection_enabled", "1", "true"},
		{"api.csrf_protection_enabled", "yes", "true"},
		{"api.csrf_protection_enabled", "ON", "true"},
		{"api.csrf_protection_enabled", "y", "true"},
		{"api.csrf_protection_enabled", "false", "false"},
		{"api.csrf_protection_enabled", "0", "false"},
		{"api.csrf_protection_enabled", "No", "false"},
		{"api.csrf_protection_enabled", "off", "false"},
		{"api.csrf_protection_enabled", "enabled", ""},
		// int
		{"api.port", "8080", "8080"},
		{"api.port", " 8080 ", "8080"},
		{"api.port", "80.5", ""},
		{"api.port", "0x50", ""},
		// float
		{"deployments.concurrency_slot_wait_seconds", "12.5", "12.5"},
		{"deployments.concurrency_slot_wait_seconds", "7", "7"},
		{"deployments.concurrency_slot_wait_seconds", "inf", ""},
		{"deployments.concurrency_slot_wait_seconds", "soon", ""},
		// enum
		{"logging.level", "info", "INFO"},
		{"logging.level", "Critical", "CRITICAL"},
		{"logging.level", "TRACE", ""},
		{"database.driver", "postgresql+asyncpg", "postgresql+asyncpg"},
		{"database.driver", "mysql", ""},
		// list
		{"services.db_vacuum.enabled", "flow_runs,events", "events,flow_runs"},
		{"services.db_vacuum.enabled", " events , events ", "events"},
		{"services.db_vacuum.enabled", `["flow_runs"]`, "flow_runs"},
		{"services.db_vacuum.enabled", "[]", "[]"},
		{"services.db_vacuum.enabled", "null", "[]"},
		{"services.db_vacuum.enabled", "true", "events,flow_runs"},
		{"services.db_vacuum.enabled", "False", "events"},
		{"services.db_vacuum.enabled", "events,logs", ""},
		{"services.db_vacuum.enabled", `["events"`, ""},
		// string
		{"api.host", "0.0.0.0", "0.0.0.0"},
	} {
		t.Run(tt.setting+"="+tt.raw, func(t *testing.T) {
			t.Parallel()
			st := row(t, tt.setting)
			v, reason := st.parse(tt.raw)
			if tt.want == "" {
				require.NotEmpty(t, reason, "parsed %q as %v", tt.raw, v)
				return
			}
			require.Empty(t, reason)
			require.Equal(t, tt.want, st.format(v))
			// What we print must read back to the same value.
			again, reason := st.parse(st.format(v))
			require.Empty(t, reason)
			require.Equal(t, v, again)
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	t.Parallel()

	for _, d := range []time.Duration{
		0, time.Nanosecond, 500 * time.Millisecond, 15 * time.Second, 90 * time.Minute,
		26 * time.Hour, 100 * 24 * time.Hour, 24*time.Hour + time.Second + time.Millisecond, -5 * time.Second,
	} {
		got, err := ParseDuration(FormatDuration(d))
		require.NoError(t, err, FormatDuration(d))
		require.Equal(t, d, got, FormatDuration(d))
	}
}

func TestInvalidValues(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"not an integer", map[string]string{"PREFECT_SERVER_API_PORT": "abc"},
			`PREFECT_SERVER_API_PORT="abc": not an integer`},
		{"port too large", map[string]string{"PREFECT_SERVER_API_PORT": "70000"},
			`PREFECT_SERVER_API_PORT=70000: must be between 1 and 65535`},
		{"port zero", map[string]string{"PREFECT_SERVER_API_PORT": "0"},
			`PREFECT_SERVER_API_PORT=0: must be between 1 and 65535`},
		{"alias is named", map[string]string{"PREFECT_API_DEFAULT_LIMIT": "0"},
			`PREFECT_API_DEFAULT_LIMIT=0: must be at least 1`},
		{"negative duration", map[string]string{"PREFECT_SERVER_API_KEEPALIVE_TIMEOUT": "-1"},
			`PREFECT_SERVER_API_KEEPALIVE_TIMEOUT=-1: must be at least 0 seconds`},
		{"zero interval", map[string]string{"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "0"},
			`PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=0: must be greater than 0 seconds`},
		{"bad duration", map[string]string{"PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "7 days"},
			`PREFECT_SERVER_EVENTS_RETENTION_PERIOD="7 days": not a duration (ISO 8601 like PT15S, P7D, PT1H30M, or seconds like 5 or 2.5)`},
		{"iso lower bound", map[string]string{"PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": "PT30M"},
			`PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD="PT30M": must be greater than PT1H`},
		{"range of seconds", map[string]string{"PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION": "10"},
			`PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION=10: must be between 30 and 3600 seconds`},
		{"pool recycle sentinel only", map[string]string{"PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_RECYCLE": "-0.5"},
			`PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_RECYCLE=-0.5: must be -1 (never recycle) or at least 0`},
		{"bad size", map[string]string{"PREFECT_SERVER_API_MAX_BODY_SIZE": "16M"},
			`PREFECT_SERVER_API_MAX_BODY_SIZE="16M": not a size in bytes (an integer like 1048576, or with a unit like 16MiB or 500KB)`},
		{"bad bool", map[string]string{"PREFECT_SERVER_UI_ENABLED": "sure"},
			`PREFECT_SERVER_UI_ENABLED="sure": not a boolean (true/false, 1/0, yes/no, on/off)`},
		{"bad enum", map[string]string{"PREFECT_SERVER_LOGGING_LEVEL": "verbose"},
			`PREFECT_SERVER_LOGGING_LEVEL="verbose": must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL`},
		{"bad list item", map[string]string{"PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,logs"},
			`PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED="events,logs": "logs" is not one of events, flow_runs`},
		{"base path", map[string]string{"PREFECT_SERVER_API_BASE_PATH": "api"},
			`PREFECT_SERVER_API_BASE_PATH="api": must start with "/"`},
		{"secret is not echoed", map[string]string{"PREFECT_SERVER_API_AUTH_STRING": "hunter2"},
			`PREFECT_SERVER_API_AUTH_STRING="********": must be of the form user:password`},
		{"postgres parts missing", map[string]string{"PREFECT_SERVER_DATABASE_DRIVER": "postgresql+asyncpg", "PREFECT_SERVER_DATABASE_USER": "u"},
			`PREFECT_SERVER_DATABASE_DRIVER="postgresql+asyncpg": building the database URL from parts also needs PREFECT_SERVER_DATABASE_HOST, PREFECT_SERVER_DATABASE_NAME (or set PREFECT_SERVER_DATABASE_CONNECTION_URL)`},
		{"password template without password", map[string]string{"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://u:${PREFECT_SERVER_DATABASE_PASSWORD}@db/p"},
			`PREFECT_SERVER_DATABASE_CONNECTION_URL="********": refers to the database password, but PREFECT_SERVER_DATABASE_PASSWORD is not set`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(tt.vars))
			errs := joined(t, err)
			require.Len(t, errs, 1)
			require.Equal(t, tt.want, errs[0].Error())
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestAllInvalidValuesReported(t *testing.T) {
	t.Parallel()

	s, err := Load(env(map[string]string{
		"PREFECT_SERVER_API_PORT":                      "abc",
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE": "0",
		"PREFECT_SERVER_LOGGING_LEVEL":                 "loud",
		"PREFECT_EVENTS_RETENTION_PERIOD":              "forever",
		"PREFECT_SERVER_API_HOST":                      "0.0.0.0", // valid, not reported
	}))
	require.Equal(t, Settings{}, s)
	var envs []string
	for _, e := range joined(t, err) {
		envs = append(envs, e.Env)
	}
	require.Equal(t, []string{
		"PREFECT_SERVER_API_PORT",
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE",
		"PREFECT_SERVER_LOGGING_LEVEL",
		"PREFECT_EVENTS_RETENTION_PERIOD",
	}, envs)
	require.Equal(t, 4, strings.Count(err.Error(), "\n")+1, "one line per invalid value")
}

func TestCheck(t *testing.T) {
	t.Parallel()

	port := row(t, "api.port")
	require.NoError(t, port.Check("8080"))
	require.NoError(t, port.Check(""), "empty means unset")
	require.EqualError(t, port.Check("99999"), "PREFECT_SERVER_API_PORT=99999: must be between 1 and 65535")
	for _, st := range Table() {
		require.NoError(t, st.Check(st.Default), "%s default %q", st.Env, st.Default)
	}
}

func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()

	s := load(t, map[string]string{
		"PREFECT_SERVER_API_AUTH_STRING":         "admin:hunter2",
		"PREFECT_SERVER_DATABASE_PASSWORD":       "s3cret",
		"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://prefect:s3cret@db:5432/prefect",
	})
	var b strings.Builder
	require.NoError(t, Print(&b, s))
	out := b.String()
	require.NotContains(t, out, "hunter2")
	require.NotContains(t, out, "s3cret")
	require.Contains(t, out, "\nPREFECT_SERVER_API_AUTH_STRING=********\n")
	require.Contains(t, out, "\nPREFECT_SERVER_DATABASE_PASSWORD=********\n")
	require.Contains(t, out, "\nPREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect:********@db:5432/prefect\n")
	require.Equal(t, len(Table()), strings.Count(out, "\n"), "one line per setting")

	// Unset secrets print empty, not as a mask that hides whether they are set.
	b.Reset()
	require.NoError(t, Print(&b, load(t, nil)))
	require.Contains(t, b.String(), "\nPREFECT_SERVER_API_AUTH_STRING=\n")
}

func TestRedactURL(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct{ in, want string }{
		{"postgresql+asyncpg://u:p%40ss@db:5432/prefect", "postgresql+asyncpg://u:********@db:5432/prefect"},
		{"postgresql+asyncpg://u@db/prefect", "postgresql+asyncpg://u@db/prefect"},
		{"postgresql+asyncpg://db/prefect?user=u&password=p", "postgresql+asyncpg://db/prefect?password=********&user=u"},
		{"sqlite+aiosqlite:////home/test/.prefect/prefect.db", "sqlite+aiosqlite:////home/test/.prefect/prefect.db"},
		{"postgresql://u:p@[::1", "********"},
	} {
		require.Equal(t, tt.want, redactURL(tt.in), tt.in)
	}
}

// What Print writes, Load reads back to the same Settings.
func TestPrintRoundTrip(t *testing.T) {
	t.Parallel()

	s := load(t, map[string]string{
		"PREFECT_SERVER_API_PORT":                   "8080",
		"PREFECT_SERVER_EVENTS_RETENTION_PERIOD":    "P1DT0.5S",
		"PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "[]",
		"PREFECT_SERVER_API_MAX_BODY_SIZE":          "1MiB",
		"PREFECT_SERVER_DATABASE_DRIVER":            "postgresql+asyncpg",
		"PREFECT_SERVER_DATABASE_HOST":              "db",
		"PREFECT_SERVER_DATABASE_USER":              "u",
		"PREFECT_SERVER_DATABASE_NAME":              "n",
	})
	var b strings.Builder
	require.NoError(t, Print(&b, s))
	vars := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		require.True(t, ok, sc.Text())
		vars[k] = v
	}
	require.Equal(t, s, load(t, vars))
}

func TestTableRows(t *testing.T) {
	t.Parallel()

	names := make(map[string]bool)
	envs := make(map[string]string)
	for _, st := range Table() {
		require.NotEmpty(t, st.Name)
		require.False(t, names[st.Name], "duplicate name %s", st.Name)
		names[st.Name] = true

		require.NotEmpty(t, st.Env, st.Name)
		require.True(t, strings.HasPrefix(st.Env, "PREFECT_"), st.Env)
		for _, e := range st.Envs() {
			require.Equal(t, strings.ToUpper(e), e, "%s: env names are upper-case", st.Name)
			other, dup := envs[e]
			require.False(t, dup, "%s is read by both %s and %s", e, other, st.Name)
			envs[e] = st.Name
		}

		require.NotEmpty(t, st.Doc, st.Name)
		require.NotContains(t, st.Doc, "\n", "%s: doc is one line", st.Name)
		require.Contains(t, kindTypes, st.Kind, st.Name)
		require.Equal(t, st.Kind == KindEnum || st.Kind == KindList, len(st.Enum) > 0, "%s: Enum goes with enum and list kinds", st.Name)
		if st.Min != nil && st.Max != nil {
			require.Less(t, *st.Min, *st.Max, st.Name)
		}
	}
}

// A Settings field without a row (or a row without a field) fails here, in
// table order, so the two cannot drift.
func TestTableCoversSettings(t *testing.T) {
	t.Parallel()

	var leaves []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("setting")
			if tag == "" {
				leaves = append(leaves, "untagged field "+prefix+f.Name)
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+tag+".")
				continue
			}
			leaves = append(leaves, prefix+tag)
			typeOK := slices.ContainsFunc(Table(), func(st Setting) bool {
				return st.Name == prefix+tag && kindTypes[st.Kind] == f.Type
			})
			require.True(t, typeOK, "%s%s (%s) has no row of a kind that fits", prefix, tag, f.Type)
		}
	}
	walk(reflect.TypeFor[Settings](), "")

	var rows []string
	for _, st := range Table() {
		rows = append(rows, st.Name)
	}
	require.Equal(t, leaves, rows)
}

func TestTableIsACopy(t *testing.T) {
	t.Parallel()

	byName := func(rows []Setting, name string) *Setting {
		i := slices.IndexFunc(rows, func(r Setting) bool { return r.Name == name })
		require.GreaterOrEqual(t, i, 0, name)
		return &rows[i]
	}
	rows := Table()
	rows[0].Name = "changed"
	byName(rows, "metrics_enabled").Aliases[0] = "changed"
	*byName(rows, "api.port").Min = -100
	fresh := Table()
	require.NotEqual(t, "changed", fresh[0].Name)
	require.NotEqual(t, "changed", byName(fresh, "metrics_enabled").Aliases[0])
	require.Equal(t, 1.0, *byName(fresh, "api.port").Min)
}

func TestMarkdownReference(t *testing.T) {
	t.Parallel()

	md := MarkdownReference()
	for _, st := range Table() {
		require.Contains(t, md, "| `"+st.Env+"` |", st.Name)
		for _, a := range st.Aliases {
			require.Contains(t, md, "`"+a+"`")
		}
	}
	require.Contains(t, md, "\n## `services.scheduler`\n")
	require.Contains(t, md, "| `PREFECT_SERVER_API_PORT` |  | `4200` | int, 1 to 65535 | Port the API listens on. |")
}

func TestUnknownEnv(t *testing.T) {
	t.Parallel()

	got := UnknownEnv([]string{
		"PREFECT_SERVER_API_PORT=1",
		"PREFECT_SERVER_API_PROT=1",
		"PREFECT_SERVER_EVENTS_MESSAGING_BROKER=prefect_redis.messaging",
		"PREFECT_API_DEFAULT_LIMIT=5",
		"PREFECT_API_URL=http://x",
		"PATH=/bin",
	})
	require.Equal(t, []string{"PREFECT_SERVER_API_PROT", "PREFECT_SERVER_EVENTS_MESSAGING_BROKER"}, got)
}

// A raw password from a Secret, with characters that mean something in a
// URL, still yields a URL that parses back to that password.
func TestPasswordPlaceholderIsEscaped(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://prefect:${PREFECT_SERVER_DATABASE_PASSWORD}@db:5432/prefect",
		"PREFECT_SERVER_DATABASE_PASSWORD":       "p@ss/w#rd%41 x",
	}
	s, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	u, err := url.Parse(strings.Replace(s.Database.ConnectionURL, "postgresql+asyncpg", "postgresql", 1))
	require.NoError(t, err)
	pw, _ := u.User.Password()
	require.Equal(t, "p@ss/w#rd%41 x", pw)
	require.Equal(t, "db:5432", u.Host)
}
