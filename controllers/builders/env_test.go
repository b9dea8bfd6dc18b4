package builders

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

func secretRef(name, key string) *corev1.SecretKeySelector {
	return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
}

func postgresParts(pg *v1alpha1.PostgresStorage) func(*v1alpha1.PrefectServerSpec) {
	return func(s *v1alpha1.PrefectServerSpec) { s.Storage.Postgres = pg }
}

func TestServerEnvPerStorage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		edit    func(*v1alpha1.PrefectServerSpec)
		secrets map[string][]byte
		// literal values the env must hold
		want map[string]string
		// variables that must come from this Secret key
		wantRefs map[string]string
		// the database URL the server ends up with
		wantURL string
		absent  []string
	}{{
		name: "sqlite (the default)",
		want: map[string]string{
			"PREFECT_SERVER_API_HOST":                   "0.0.0.0",
			"PREFECT_HOME":                              "/data",
			"PREFECT_SERVER_DATABASE_CONNECTION_URL":    "sqlite+aiosqlite:////data/prefect.db",
			"PREFECT_SERVER_DATABASE_MIGRATE_ON_START":  "true",
			"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
			"PREFECT_SERVER_SERVICES_RETENTION_ENABLED": "false",
		},
		wantURL: "sqlite+aiosqlite:////data/prefect.db",
		absent:  []string{"PREFECT_SERVER_DATABASE_PASSWORD"},
	}, {
		name: "ephemeral",
		edit: func(s *v1alpha1.PrefectServerSpec) { s.Storage.Ephemeral = &v1alpha1.EphemeralStorage{} },
		want: map[string]string{
			"PREFECT_HOME":                             "/tmp",
			"PREFECT_SERVER_DATABASE_CONNECTION_URL":   "sqlite+aiosqlite:////tmp/prefect.db",
			"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "true",
			// No CronJobs: the server runs these itself, as the spec says.
			"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true",
			"PREFECT_SERVER_SERVICES_RETENTION_ENABLED": "true",
		},
		wantURL: "sqlite+aiosqlite:////tmp/prefect.db",
	}, {
		name: "postgres from parts",
		edit: postgresParts(&v1alpha1.PostgresStorage{
			Host: "db.example", User: "pre fect", SSLMode: "require", PasswordSecretRef: secretRef("pg", "password"),
		}),
		secrets: map[string][]byte{"pg/password": []byte("s3cret")},
		want: map[string]string{
			"PREFECT_HOME": "/tmp",
			"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://pre%20fect:${PREFECT_SERVER_DATABASE_PASSWORD}" +
				"@db.example:5432/prefect?sslmode=require",
			"PREFECT_SERVER_DATABASE_MIGRATE_ON_START":  "false",
			"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
			"PREFECT_SERVER_SERVICES_RETENTION_ENABLED": "false",
		},
		wantRefs: map[string]string{"PREFECT_SERVER_DATABASE_PASSWORD": "pg/password"},
		wantURL:  "postgresql+asyncpg://pre%20fect:s3cret@db.example:5432/prefect?sslmode=require",
	}, {
		name: "postgres without a password, IPv6 host",
		edit: postgresParts(&v1alpha1.PostgresStorage{Host: "fd00::1", User: "prefect", Port: new(int32(6432)), Database: "p"}),
		want: map[string]string{
			"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://prefect@[fd00::1]:6432/p?sslmode=prefer",
		},
		wantURL: "postgresql+asyncpg://prefect@[fd00::1]:6432/p?sslmode=prefer",
		absent:  []string{"PREFECT_SERVER_DATABASE_PASSWORD"},
	}, {
		name:    "postgres from a URL Secret",
		edit:    postgresParts(&v1alpha1.PostgresStorage{ConnectionURLSecretRef: secretRef("pg", "url")}),
		secrets: map[string][]byte{"pg/url": []byte("postgresql://u:pw@h/db")},
		want: map[string]string{
			"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
		},
		wantRefs: map[string]string{"PREFECT_SERVER_DATABASE_CONNECTION_URL": "pg/url"},
		wantURL:  "postgresql://u:pw@h/db",
		absent:   []string{"PREFECT_SERVER_DATABASE_PASSWORD"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := ServerEnv(newServer(t, c.edit))
			for name, want := range c.want {
				got, ok := envValue(env, name)
				require.True(t, ok, "%s is not a literal in %v", name, envNames(env))
				require.Equal(t, want, got, name)
			}
			for name, want := range c.wantRefs {
				e := envVar(t, env, name)
				require.Empty(t, e.Value)
				require.NotNil(t, e.ValueFrom)
				require.Equal(t, want, e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key)
			}
			for _, name := range c.absent {
				require.NotContains(t, envNames(env), name)
			}
			s, err := load(resolveEnv(t, env, c.secrets))
			require.NoError(t, err)
			require.Equal(t, c.wantURL, s.Database.ConnectionURL)
		})
	}
}

func TestServerEnvRendersSettings(t *testing.T) {
	t.Parallel()
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.API.Port = new(int32(8080))
		s.API.MaxBodySize = new(int64(1 << 30))
		s.API.CSRFProtection = new(true)
		s.API.KeepAliveTimeout = "PT1M30S"
		s.API.AuthSecretRef = secretRef("auth", "basic")
		s.Events.RetentionPeriod = "P3D"
		s.Logging.Level = "DEBUG"
		s.Services.DBVacuum.Enabled = []string{"events", "flow_runs"}
		s.Services.EventLogger.Enabled = new(true)
		s.Services.Scheduler.Enabled = new(true) // the CronJob wins
		s.Database.ApplicationName = "prefect-$(POD)"
		s.UI.APIURL = "https://prefect.example/api"
	})
	env := ServerEnv(ps)
	for name, want := range map[string]string{
		"PREFECT_SERVER_API_PORT":                      "8080",
		"PREFECT_SERVER_API_MAX_BODY_SIZE":             "1073741824",
		"PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED":   "true",
		"PREFECT_SERVER_API_KEEPALIVE_TIMEOUT":         "PT1M30S",
		"PREFECT_SERVER_EVENTS_RETENTION_PERIOD":       "P3D",
		"PREFECT_SERVER_LOGGING_LEVEL":                 "DEBUG",
		"PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED":    "events,flow_runs",
		"PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED": "true",
		"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED":    "false",
		"PREFECT_SERVER_UI_API_URL":                    "https://prefect.example/api",
		// Escaped against the kubelet's $(VAR) expansion.
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME": "prefect-$$(POD)",
		// Defaults the API server filled in are rendered too.
		"PREFECT_SERVER_API_DEFAULT_LIMIT":                   "200",
		"PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": "P90D",
	} {
		got, ok := envValue(env, name)
		require.True(t, ok, "no literal %s", name)
		require.Equal(t, want, got, name)
	}
	auth := envVar(t, env, "PREFECT_SERVER_API_AUTH_STRING")
	require.Equal(t, &corev1.EnvVarSource{SecretKeyRef: secretRef("auth", "basic")}, auth.ValueFrom)

	// Every name once; unset optional settings are left out.
	seen := map[string]bool{}
	for _, e := range env {
		require.False(t, seen[e.Name], "%s twice", e.Name)
		seen[e.Name] = true
	}
	require.NotContains(t, envNames(env), "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_SEARCH_PATH")

	s, err := load(resolveEnv(t, env, map[string][]byte{"auth/basic": []byte("u:p")}))
	require.NoError(t, err)
	require.Equal(t, "prefect-$(POD)", s.Database.ApplicationName)
	require.Equal(t, 72*time.Hour, s.Events.RetentionPeriod)
	require.Equal(t, 90*time.Second, s.API.KeepAliveTimeout)
	require.Equal(t, "u:p", s.API.AuthString)
	require.False(t, s.Services.Scheduler.Enabled)
	require.Equal(t, []string{"events", "flow_runs"}, s.Services.DBVacuum.Enabled)

	// Stable: the same spec renders the same list.
	require.Equal(t, env, ServerEnv(ps))
}

func TestServerEnvEmptyVacuumList(t *testing.T) {
	t.Parallel()
	// From YAML: a Go client cannot send the empty list, which omitempty drops.
	ps := fromYAML(t, `
metadata: {name: prefect}
spec:
  services:
    dbVacuum:
      enabled: []
`)
	got, ok := envValue(ServerEnv(ps), "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED")
	require.True(t, ok)
	require.Equal(t, "[]", got)
	s, err := load(resolveEnv(t, ServerEnv(ps), nil))
	require.NoError(t, err)
	require.Empty(t, s.Services.DBVacuum.Enabled)
}

func TestExtraEnvComesLastAndOverrides(t *testing.T) {
	t.Parallel()
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.ExtraEnv = []corev1.EnvVar{
			{Name: "PREFECT_SERVER_LOGGING_LEVEL", Value: "INFO"},
			{Name: "TZ", Value: "UTC"},
			{Name: "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED", Value: "true"},
			{Name: "TZ", Value: "Europe/Paris"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}
	})
	env := ServerEnv(ps)
	n := len(env)
	require.Equal(t, []corev1.EnvVar{
		{Name: "PREFECT_SERVER_LOGGING_LEVEL", Value: "INFO"},
		{Name: "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED", Value: "true"},
		{Name: "TZ", Value: "Europe/Paris"},
		ps.Spec.ExtraEnv[4],
	}, env[n-4:])
	for _, e := range env[:n-4] {
		require.NotContains(t, []string{"PREFECT_SERVER_LOGGING_LEVEL", "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED", "TZ", "POD"}, e.Name)
	}
}

func TestEscapeExpansion(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "plain", "$HOME", "${X}", "$(X)", "a$$b", "$(X)$$", "$", "end$"} {
		got := kubeletExpand(escapeExpansion(v), map[string]string{"X": "expanded"})
		require.Equal(t, v, got, "%q escaped as %q", v, escapeExpansion(v))
	}
	require.Equal(t, "${X}", escapeExpansion("${X}"), "left alone when expansion would not touch it")
}

func TestReferencedSecrets(t *testing.T) {
	t.Parallel()
	ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.API.AuthSecretRef = secretRef("auth", "basic")
		s.Storage.Postgres = &v1alpha1.PostgresStorage{Host: "h", User: "u", PasswordSecretRef: secretRef("pg", "password")}
		s.ExtraEnv = []corev1.EnvVar{
			{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: secretRef("extra", "a")}},
			{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: secretRef("auth", "other")}},
			{Name: "C", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "c"}}},
		}
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
	})
	require.Equal(t, []string{"auth", "extra", "pg"}, ReferencedSecrets(ps))

	url := newServer(t, postgresParts(&v1alpha1.PostgresStorage{ConnectionURLSecretRef: secretRef("pg-url", "url")}))
	require.Equal(t, []string{"pg-url"}, ReferencedSecrets(url))
	require.Empty(t, ReferencedSecrets(newServer(t, nil)))
}

func TestConfigHash(t *testing.T) {
	t.Parallel()
	in := Inputs{DefaultImage: "prefectgo:v1", SecretData: map[string][]byte{"pg/password": []byte("one")}}
	base := func(s *v1alpha1.PrefectServerSpec) {
		s.Storage.Postgres = &v1alpha1.PostgresStorage{Host: "h", User: "u", PasswordSecretRef: secretRef("pg", "password")}
	}
	ps := newServer(t, base)
	hash := ConfigHash(ps, in)
	require.Len(t, hash, 16)
	require.Equal(t, hash, ConfigHash(ps, in), "deterministic")
	require.Equal(t, hash, ConfigHash(ps, Inputs{DefaultImage: "prefectgo:v1",
		SecretData: map[string][]byte{"pg/password": []byte("one")}}), "a copy of the inputs")

	for _, c := range []struct {
		name string
		edit func(*v1alpha1.PrefectServerSpec)
		in   Inputs
		env  string // the variable whose value changes, if any
	}{
		{"events.retentionPeriod", func(s *v1alpha1.PrefectServerSpec) { s.Events.RetentionPeriod = "P30D" }, in,
			"PREFECT_SERVER_EVENTS_RETENTION_PERIOD"},
		{"database.poolSize", func(s *v1alpha1.PrefectServerSpec) { s.Database.PoolSize = new(int32(20)) }, in,
			"PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE"},
		{"storage.postgres.host", func(s *v1alpha1.PrefectServerSpec) { s.Storage.Postgres.Host = "other" }, in,
			"PREFECT_SERVER_DATABASE_CONNECTION_URL"},
		{"Secret data", nil, Inputs{DefaultImage: in.DefaultImage, SecretData: map[string][]byte{"pg/password": []byte("two")}}, ""},
		{"another Secret key", nil, Inputs{DefaultImage: in.DefaultImage,
			SecretData: map[string][]byte{"pg/password": []byte("one"), "x/y": nil}}, ""},
		{"default image", nil, Inputs{DefaultImage: "prefectgo:v2", SecretData: in.SecretData}, ""},
		{"spec.image", func(s *v1alpha1.PrefectServerSpec) { s.Image = "mine:1" }, in, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			changed := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
				base(s)
				if c.edit != nil {
					c.edit(s)
				}
			})
			require.NotEqual(t, hash, ConfigHash(changed, c.in))
			if c.env != "" {
				before, _ := envValue(ServerEnv(ps), c.env)
				after, _ := envValue(ServerEnv(changed), c.env)
				require.NotEqual(t, before, after)
			}
			require.NotEqual(t, Deployment(ps, in).Spec.Template.Annotations, Deployment(changed, c.in).Spec.Template.Annotations)
			require.NotEqual(t, MigrationJob(ps, in).Name, MigrationJob(changed, c.in).Name)
		})
	}
}

// TestSamplesLoad: the server accepts everything rendered for the samples.
func TestSamplesLoad(t *testing.T) {
	t.Parallel()
	for _, file := range sampleFiles {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			s := loadSample(t, file)
			for _, storage := range []func(*v1alpha1.PrefectServerSpec){
				nil,
				func(spec *v1alpha1.PrefectServerSpec) {
					spec.Storage = v1alpha1.Storage{Ephemeral: &v1alpha1.EphemeralStorage{}}
					spec.Replicas = new(int32(1))
				},
			} {
				ps := s.server.DeepCopy()
				if storage != nil {
					storage(&ps.Spec)
				}
				env := resolveEnv(t, ServerEnv(ps), s.secrets)
				_, err := load(env)
				require.NoError(t, err)
				for name := range env {
					require.True(t, strings.HasPrefix(name, "PREFECT_"), name)
				}
			}
		})
	}
}
