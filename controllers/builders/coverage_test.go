package builders

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/server/settings"
)

type specSetting struct {
	path  []string // JSON path below the object root, e.g. spec.api.port
	field reflect.StructField
}

// specSettings maps each `setting` tag of the spec to its field.
func specSettings(t *testing.T) map[string]specSetting {
	t.Helper()
	out := make(map[string]specSetting)
	settingFields(reflect.TypeFor[v1alpha1.PrefectServerSpec](), []string{"spec"},
		func(name string, path []string, f reflect.StructField) {
			prev, dup := out[name]
			require.False(t, dup, "setting %s is tagged on both %s and %s", name,
				strings.Join(prev.path, "."), strings.Join(path, "."))
			out[name] = specSetting{path: path, field: f}
		})
	return out
}

// kinds are the settings kinds each spec field type can render.
var kinds = map[reflect.Type][]settings.Kind{
	reflect.TypeFor[*int32]():                    {settings.KindInt, settings.KindFloat, settings.KindSize},
	reflect.TypeFor[*int64]():                    {settings.KindInt, settings.KindFloat, settings.KindSize},
	reflect.TypeFor[*bool]():                     {settings.KindBool},
	reflect.TypeFor[v1alpha1.Duration]():         {settings.KindDuration, settings.KindSeconds},
	reflect.TypeFor[string]():                    {settings.KindString, settings.KindEnum},
	reflect.TypeFor[[]string]():                  {settings.KindList},
	reflect.TypeFor[*corev1.SecretKeySelector](): {settings.KindString},
}

func TestEverySettingIsMappedOrExempt(t *testing.T) {
	t.Parallel()
	spec := specSettings(t)
	table := rows()

	for _, st := range settings.Table() {
		_, mapped := spec[st.Name]
		reason, exempted := exempt[st.Name]
		switch {
		case mapped && exempted:
			t.Errorf("%s (%s) is both a spec field (%s) and exempt (%q): drop one", st.Name, st.Env,
				strings.Join(spec[st.Name].path, "."), reason)
		case !mapped && !exempted:
			t.Errorf("%s (%s) is neither a spec field (a `setting:\"%s\"` tag in api/v1alpha1) nor exempt in builders.exempt",
				st.Name, st.Env, st.Name)
		case exempted && strings.TrimSpace(reason) == "":
			t.Errorf("%s is exempt without a reason", st.Name)
		}
	}
	for name, s := range spec {
		st, ok := table[name]
		if !ok {
			t.Errorf("%s is tagged setting:%q, but the settings table has no such row", strings.Join(s.path, "."), name)
			continue
		}
		want, known := kinds[s.field.Type]
		if !known {
			t.Errorf("%s: ServerEnv cannot render a field of type %s", strings.Join(s.path, "."), s.field.Type)
			continue
		}
		require.Contains(t, want, st.Kind, "%s is a %s, which cannot hold the %s setting %s",
			strings.Join(s.path, "."), s.field.Type, st.Kind, name)
		isRef := s.field.Type == reflect.TypeFor[*corev1.SecretKeySelector]()
		require.Equal(t, st.Secret, isRef, "%s: secret settings, and only they, come from a secretKeyRef", name)
	}
	for name := range exempt {
		_, ok := table[name]
		require.True(t, ok, "exempt %s is not a settings row", name)
	}
}

// TestCRDDefaultsMatchTable reads every mapped field's default from the
// generated CRD and requires the server to read it as the table's default:
// "5" and "PT5S" are equal, "5" and "PT10S" are not. A field without a
// CRD default must be one the table leaves unset.
func TestCRDDefaultsMatchTable(t *testing.T) {
	t.Parallel()
	table := rows()
	defaults := settings.Defaults()
	for name, s := range specSettings(t) {
		st, ok := table[name]
		if !ok {
			continue // TestEverySettingIsMappedOrExempt reports it
		}
		path := strings.Join(s.path, ".")
		tableDefault := st.Value(defaults)
		def, has := schemaAt(t, s.path...)["default"]
		if !has {
			require.Empty(t, tableDefault, "%s has no CRD default (+kubebuilder:default), but %s defaults to %q",
				path, st.Env, st.Default)
			continue
		}
		// The default as the Go field holds it, rendered as ServerEnv does.
		b, err := json.Marshal(def)
		require.NoError(t, err)
		field := reflect.New(s.field.Type)
		require.NoError(t, json.Unmarshal(b, field.Interface()), "%s: CRD default %s", path, b)
		raw, set := formatSetting(field.Elem())
		require.True(t, set, "%s: CRD default %s renders as unset", path, b)
		got, err := load(map[string]string{st.Env: raw})
		require.NoError(t, err, "%s: CRD default %s", path, b)
		require.Equal(t, tableDefault, st.Value(got),
			"%s: the CRD default %s differs from the table's default %q for %s", path, b, st.Default, st.Env)
	}
}

// TestFallbacksMatchCRDDefaults: the builders' own fallbacks, for objects
// that skipped the API server's defaulting, are the CRD's defaults.
func TestFallbacksMatchCRDDefaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"spec", "replicas"}, float64(defaultReplicas)},
		{[]string{"spec", "api", "port"}, float64(defaultPort)},
		{[]string{"spec", "service", "port"}, float64(defaultPort)},
		{[]string{"spec", "service", "type"}, "ClusterIP"},
		{[]string{"spec", "storage"}, map[string]any{"sqlite": map[string]any{}}},
		{[]string{"spec", "storage", "sqlite", "size"}, defaultSQLiteSize},
		{[]string{"spec", "storage", "postgres", "port"}, float64(defaultPostgresPort)},
		{[]string{"spec", "storage", "postgres", "database"}, defaultPostgresDatabase},
		{[]string{"spec", "storage", "postgres", "sslMode"}, defaultSSLMode},
		{[]string{"spec", "retention"}, map[string]any{"schedule": defaultRetentionSchedule}},
		{[]string{"spec", "scheduling"}, map[string]any{"schedule": defaultSchedulingSchedule}},
		{[]string{"spec", "retention", "successfulJobsHistoryLimit"}, float64(defaultSuccessfulJobs)},
		{[]string{"spec", "retention", "failedJobsHistoryLimit"}, float64(defaultFailedJobs)},
		{[]string{"spec", "monitoring", "alerts", "lateRunsAfter"}, defaultLateRunsAfter},
		{[]string{"spec", "monitoring", "alerts", "schedulerStaleAfter"}, defaultSchedulerStaleAfter},
		{[]string{"spec", "monitoring", "alerts", "enabled"}, true},
		{[]string{"spec", "backup", "schedule"}, defaultBackupSchedule},
		{[]string{"spec", "backup", "keep"}, float64(defaultBackupKeep)},
		{[]string{"spec", "backup", "size"}, defaultBackupSize},
	} {
		require.Equal(t, c.want, schemaAt(t, c.path...)["default"], strings.Join(c.path, "."))
	}

	// And so a spec that skipped defaulting renders the same objects, and a
	// server with the same effective settings.
	raw := &v1alpha1.PrefectServer{}
	raw.Name, raw.Namespace = "prefect", "ns"
	def := newServer(t, nil)
	in := Inputs{DefaultImage: "img"}

	rawDep, defDep := Deployment(raw, in), Deployment(def, in)
	rawS, err := load(resolveEnv(t, rawDep.Spec.Template.Spec.Containers[0].Env, nil))
	require.NoError(t, err)
	defS, err := load(resolveEnv(t, defDep.Spec.Template.Spec.Containers[0].Env, nil))
	require.NoError(t, err)
	require.Equal(t, defS, rawS, "effective settings")
	rawDep.Spec.Template.Spec.Containers[0].Env, defDep.Spec.Template.Spec.Containers[0].Env = nil, nil
	delete(rawDep.Spec.Template.Annotations, ConfigHashAnnotation)
	delete(defDep.Spec.Template.Annotations, ConfigHashAnnotation)
	require.Equal(t, defDep, rawDep)
	require.Equal(t, Service(def), Service(raw))
	require.Equal(t, PVC(def), PVC(raw))
	rawB := raw.DeepCopy()
	rawB.Spec.Backup = &v1alpha1.BackupSpec{}
	defB := defaulted(t, rawB)
	require.Equal(t, "0 3 * * *", defB.Spec.Backup.Schedule)
	require.Equal(t, BackupPVC(defB), BackupPVC(rawB))
	rawBCJ, defBCJ := BackupCronJob(rawB, in), BackupCronJob(defB, in)
	rawBCJ.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env = nil
	defBCJ.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env = nil
	require.Equal(t, defBCJ, rawBCJ)
	rawCJ, defCJ := CronJobs(raw, in), CronJobs(def, in)
	require.Len(t, rawCJ, 2)
	for i := range rawCJ {
		rawCJ[i].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env = nil
		defCJ[i].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env = nil
		require.Equal(t, defCJ[i], rawCJ[i])
	}
}
