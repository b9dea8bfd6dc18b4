package builders

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/server/settings"
)

// exempt lists the settings-table rows the spec deliberately has no field
// for, with the reason. Every other row must be a `setting` tag in the spec
// (TestEverySettingIsMappedOrExempt). Set any of them through spec.extraEnv
// if you must.
var exempt = map[string]string{
	"home":                        "set by the operator: the data volume (SQLite) or the scratch volume",
	"analytics_enabled":           "the UI's usage events; not in the spec yet (spec.extraEnv sets it)",
	"api.host":                    "always 0.0.0.0 in the pod, so the Service and the probes reach it",
	"api.base_path":               "fixed at /api so probes, the Service URL, status.url and the UI's API URL agree",
	"database.connection_url":     "derived from spec.storage",
	"database.driver":             "derived from spec.storage",
	"database.host":               "derived from spec.storage (storage.postgres.host)",
	"database.port":               "derived from spec.storage (storage.postgres.port)",
	"database.user":               "derived from spec.storage (storage.postgres.user)",
	"database.name":               "derived from spec.storage (storage.postgres.database)",
	"database.password":           "derived from spec.storage (storage.postgres.passwordSecretRef)",
	"database.migrate_on_start":   "derived: a Job migrates PostgreSQL before the pods roll; SQLite migrates at start",
	"database.tls.enabled":        tlsReason,
	"database.tls.ca_file":        tlsReason,
	"database.tls.cert_file":      tlsReason,
	"database.tls.key_file":       tlsReason,
	"database.tls.check_hostname": "derived from spec.storage.postgres.tls.checkHostname",
	"ui.static_directory":         "the image serves the UI it was built with; the root filesystem is read-only",
	"catalogue_directory":         "the image carries the block catalogue and collection views of the prefect it was built with",
}

// tlsReason: the files are the Secrets spec.storage.postgres.tls names,
// mounted where the operator says.
const tlsReason = "derived from spec.storage.postgres.tls (its Secrets, mounted in the pods)"

// rows indexes the settings table by Name.
var rows = sync.OnceValue(func() map[string]settings.Setting {
	m := make(map[string]settings.Setting)
	for _, st := range settings.Table() {
		m[st.Name] = st
	}
	return m
})

func envName(name string) string {
	st, ok := rows()[name]
	if !ok {
		panic("builders: no settings row " + name)
	}
	return st.Env
}

// ServerEnv is the environment of the server container (and of the Job and
// CronJob containers, which read the same settings), in a stable order:
// what the operator derives (listen address, home, database, the UI's API
// URL unless spec.ui.apiURL sets it, the services the CronJobs take over, the metrics
// spec.monitoring scrapes), then every set spec field in declaration order,
// then spec.extraEnv, which overrides: a rendered variable that extraEnv
// sets again is left out, so the list has no duplicate names.
//
// Secrets never appear as values: api.authSecretRef and the PostgreSQL
// password or URL become valueFrom.secretKeyRef.
func ServerEnv(ps *v1alpha1.PrefectServer) []corev1.EnvVar {
	var env []corev1.EnvVar
	derived := make(map[string]bool)
	add := func(name, value string) {
		derived[name] = true
		env = append(env, corev1.EnvVar{Name: envName(name), Value: escapeExpansion(value)})
	}
	addSecret := func(name string, ref *corev1.SecretKeySelector) {
		derived[name] = true
		env = append(env, corev1.EnvVar{Name: envName(name), ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref.DeepCopy()}})
	}

	add("api.host", "0.0.0.0")
	// Always on in the pod, whatever the spec says: the probes use it.
	add("api.probe_port", strconv.Itoa(int(probePort(ps))))
	switch StorageKind(ps) {
	case StorageSQLite:
		add("home", DataDir)
		add("database.connection_url", "sqlite+aiosqlite:///"+DataDir+"/prefect.db")
		add("database.migrate_on_start", "true")
	case StorageEphemeral:
		add("home", ScratchDir)
		add("database.connection_url", "sqlite+aiosqlite:///"+ScratchDir+"/prefect.db")
		add("database.migrate_on_start", "true")
	case StoragePostgres:
		pg := ps.Spec.Storage.Postgres
		add("home", ScratchDir)
		if pg.ConnectionURLSecretRef != nil {
			addSecret("database.connection_url", pg.ConnectionURLSecretRef)
		} else {
			if pg.PasswordSecretRef != nil {
				addSecret("database.password", pg.PasswordSecretRef)
			}
			add("database.connection_url", postgresURL(pg))
		}
		add("database.migrate_on_start", "false")
		if pg.TLS != nil {
			for _, kv := range postgresTLSSettings(pg.TLS) {
				add(kv[0], kv[1])
			}
		}
	}
	if ps.Spec.UI.APIURL == "" {
		// Prefect's default would be http://0.0.0.0:<port>/api here.
		add("ui.api_url", UIAPIURL(ps))
	}
	if hasCronJobs(ps) {
		// The CronJobs do this work; two schedulers would race.
		add("services.scheduler.enabled", "false")
		add("services.retention.enabled", "false")
	}
	if MonitoringEnabled(ps) {
		// What the ServiceMonitor or PodMonitor scrapes, whatever spec.metricsEnabled says.
		add("metrics_enabled", "true")
	}

	walkSettings(reflect.ValueOf(&ps.Spec).Elem(), func(name string, f reflect.Value) {
		if derived[name] {
			return
		}
		if ref, ok := f.Interface().(*corev1.SecretKeySelector); ok {
			if ref != nil {
				addSecret(name, ref)
			}
			return
		}
		if value, set := formatSetting(f); set {
			add(name, value)
		}
	})

	if len(ps.Spec.ExtraEnv) > 0 {
		overridden := make(map[string]bool)
		for _, e := range ps.Spec.ExtraEnv {
			overridden[e.Name] = true
		}
		env = slices.DeleteFunc(env, func(e corev1.EnvVar) bool { return overridden[e.Name] })
		for i, e := range ps.Spec.ExtraEnv {
			// A name given twice in extraEnv counts once, the last time.
			if !slices.ContainsFunc(ps.Spec.ExtraEnv[i+1:], func(later corev1.EnvVar) bool { return later.Name == e.Name }) {
				env = append(env, *e.DeepCopy())
			}
		}
	}
	return env
}

// postgresURL is the URL for host, port, user and database, with the
// placeholder the server replaces by PREFECT_SERVER_DATABASE_PASSWORD (as
// Python Prefect does), so the password stays in its Secret. The server
// inserts the password as is: it must not need URL escaping.
func postgresURL(pg *v1alpha1.PostgresStorage) string {
	var b strings.Builder
	b.WriteString("postgresql+asyncpg://")
	b.WriteString(url.User(pg.User).String())
	if pg.PasswordSecretRef != nil {
		b.WriteString(":${" + envName("database.password") + "}")
	}
	b.WriteString("@")
	b.WriteString(net.JoinHostPort(pg.Host, strconv.Itoa(int(orDefault(pg.Port, defaultPostgresPort)))))
	b.WriteString("/")
	b.WriteString(url.PathEscape(cmpOr(pg.Database, defaultPostgresDatabase)))
	b.WriteString("?")
	b.WriteString(url.Values{"sslmode": {cmpOr(pg.SSLMode, defaultSSLMode)}}.Encode())
	return b.String()
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// escapeExpansion protects a literal value from the kubelet's $(VAR)
// expansion, which also turns $$ into $: when either occurs, every $ is
// doubled, which expansion undoes exactly.
func escapeExpansion(v string) string {
	if strings.Contains(v, "$(") || strings.Contains(v, "$$") {
		return strings.ReplaceAll(v, "$", "$$")
	}
	return v
}

// walkSettings calls fn, in declaration order, for every field of v (a
// struct of the v1alpha1 package) and its nested v1alpha1 structs that
// carries a `setting` tag, with the tag.
func walkSettings(v reflect.Value, fn func(name string, f reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if name, ok := sf.Tag.Lookup("setting"); ok {
			fn(name, v.Field(i))
			continue
		}
		if sf.Type.Kind() == reflect.Struct && sf.Type.PkgPath() == settingsPkg {
			walkSettings(v.Field(i), fn)
		}
	}
}

var settingsPkg = reflect.TypeFor[v1alpha1.PrefectServerSpec]().PkgPath()

// formatSetting writes a spec field as the settings parser reads it; set is
// false when the field is unset (nil, or an empty string), which leaves the
// server's default.
func formatSetting(f reflect.Value) (value string, set bool) {
	switch v := f.Interface().(type) {
	case *int32:
		if v != nil {
			return strconv.FormatInt(int64(*v), 10), true
		}
	case *int64:
		if v != nil {
			return strconv.FormatInt(*v, 10), true
		}
	case *bool:
		if v != nil {
			return strconv.FormatBool(*v), true
		}
	case v1alpha1.Duration:
		return string(v), v != ""
	case string:
		return v, v != ""
	case []string:
		switch {
		case v == nil:
		case len(v) == 0:
			return "[]", true // the empty list: an empty value would mean unset
		default:
			return strings.Join(v, ","), true
		}
	default:
		panic(fmt.Sprintf("builders: cannot render a setting of type %s", f.Type()))
	}
	return "", false
}
