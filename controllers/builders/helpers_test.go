package builders

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/server/settings"
)

// repoRoot is the module root, two levels up from this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the module root should be two levels up")
	return root
}

const crdFile = "config/crd/bases/prefectgo.dev_prefectservers.yaml"

var (
	crdOnce   sync.Once
	crdSchema map[string]any
	crdErr    error
)

// schema is the openAPIV3Schema of v1alpha1 in the generated CRD.
func schema(t testing.TB) map[string]any {
	t.Helper()
	crdOnce.Do(func() {
		var data []byte
		if data, crdErr = os.ReadFile(filepath.Join(repoRoot(t), crdFile)); crdErr != nil {
			return
		}
		var crd struct {
			Spec struct {
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if crdErr = yaml.Unmarshal(data, &crd); crdErr != nil {
			return
		}
		for _, v := range crd.Spec.Versions {
			if v.Name == v1alpha1.GroupVersion.Version {
				crdSchema = v.Schema.OpenAPIV3Schema
			}
		}
	})
	require.NoError(t, crdErr)
	require.NotNil(t, crdSchema, "no %s schema in %s", v1alpha1.GroupVersion.Version, crdFile)
	return crdSchema
}

// applyDefaults fills x as the API server does from a structural schema:
// in every object, a property that is missing (or null) gets the schema's
// default, and then every property, defaulted or not, is defaulted in turn.
func applyDefaults(x any, s map[string]any) {
	switch x := x.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, p := range props {
			p := p.(map[string]any)
			if def, ok := p["default"]; ok && x[k] == nil {
				x[k] = deepCopyJSON(def)
			}
		}
		for k, v := range x {
			if p, ok := props[k].(map[string]any); ok {
				applyDefaults(v, p)
			} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
				applyDefaults(v, ap)
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for _, v := range x {
				applyDefaults(v, items)
			}
		}
	}
}

// omitZeroStructs deletes from m, the JSON of v, the fields of struct type
// whose value is zero, as the json tag omitzero would.
func omitZeroStructs(m map[string]any, v reflect.Value) {
	for i := range v.NumField() {
		sf, f := v.Type().Field(i), v.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.Anonymous || name == "" || name == "-" {
			continue
		}
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			f = f.Elem()
		}
		if f.Kind() != reflect.Struct {
			continue
		}
		if sf.Type.Kind() == reflect.Struct && f.IsZero() {
			delete(m, name)
		} else if sub, ok := m[name].(map[string]any); ok {
			omitZeroStructs(sub, f)
		}
	}
}

func deepCopyJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// defaulted returns ps as the API server would store it: with the CRD's
// defaults filled in. Unset struct fields are left out first, as a YAML
// manifest leaves them out (encoding/json writes a zero struct as {} even
// with omitempty, and {} is not "missing" to the defaulting).
func defaulted(t testing.TB, ps *v1alpha1.PrefectServer) *v1alpha1.PrefectServer {
	t.Helper()
	b, err := json.Marshal(ps)
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, json.Unmarshal(b, &obj))
	omitZeroStructs(obj, reflect.ValueOf(ps).Elem())
	return defaultedObject(t, obj)
}

// fromYAML is a PrefectServer manifest as the API server stores it.
func fromYAML(t testing.TB, doc string) *v1alpha1.PrefectServer {
	t.Helper()
	// Strictly, so a misspelt field fails the test.
	require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &v1alpha1.PrefectServer{}))
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
	ps := defaultedObject(t, obj)
	if ps.Namespace == "" {
		ps.Namespace = "ns"
	}
	return ps
}

func defaultedObject(t testing.TB, obj map[string]any) *v1alpha1.PrefectServer {
	t.Helper()
	applyDefaults(obj, schema(t))
	b, err := json.Marshal(obj)
	require.NoError(t, err)
	out := &v1alpha1.PrefectServer{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(out))
	return out
}

// newServer is a defaulted PrefectServer named "prefect" in namespace
// "ns", after edit changed its spec.
func newServer(t testing.TB, edit func(*v1alpha1.PrefectServerSpec)) *v1alpha1.PrefectServer {
	t.Helper()
	ps := &v1alpha1.PrefectServer{}
	ps.Name, ps.Namespace = "prefect", "ns"
	if edit != nil {
		edit(&ps.Spec)
	}
	return defaulted(t, ps)
}

// sample is a file of config/samples: its PrefectServer, defaulted and in
// namespace "ns", and the data of the Secrets beside it as "name/key".
type sample struct {
	file    string
	server  *v1alpha1.PrefectServer
	secrets map[string][]byte
}

var sampleFiles = []string{
	"prefectgo_v1alpha1_prefectserver_minimal.yaml",
	"prefectgo_v1alpha1_prefectserver_sqlite.yaml",
	"prefectgo_v1alpha1_prefectserver_postgres.yaml",
	"prefectgo_v1alpha1_prefectserver_ingress.yaml",
}

func loadSample(t testing.TB, file string) sample {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "samples", file))
	require.NoError(t, err)
	s := sample{file: file, secrets: map[string][]byte{}}
	for _, doc := range strings.Split(string(data), "\n---") {
		var meta struct {
			Kind string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &meta))
		switch meta.Kind {
		case "":
		case "PrefectServer":
			require.Nil(t, s.server, "%s: one PrefectServer per sample", file)
			s.server = fromYAML(t, doc)
		case "Secret":
			var sec corev1.Secret
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &sec), "%s", file)
			for k, v := range sec.Data {
				s.secrets[sec.Name+"/"+k] = v
			}
			for k, v := range sec.StringData {
				s.secrets[sec.Name+"/"+k] = []byte(v)
			}
		default:
			t.Fatalf("%s: unexpected kind %s", file, meta.Kind)
		}
	}
	require.NotNil(t, s.server, "%s: no PrefectServer", file)
	return s
}

// resolveEnv turns a container's environment into what the process sees:
// secretKeyRefs read from secrets ("name/key"), and $(VAR) references
// expanded as the kubelet does.
func resolveEnv(t testing.TB, env []corev1.EnvVar, secrets map[string][]byte) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = kubeletExpand(e.Value, out)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name+"/"+ref.Key]
			if !ok && ref.Optional != nil && *ref.Optional {
				continue
			}
			require.True(t, ok, "%s: no Secret data %s/%s", e.Name, ref.Name, ref.Key)
			out[e.Name] = string(v)
		default:
			t.Fatalf("%s: unexpected valueFrom %+v", e.Name, e.ValueFrom)
		}
	}
	return out
}

// kubeletExpand is Kubernetes' expansion of env values: $(NAME) becomes the
// value of an earlier variable (and stays as written when there is none),
// $$ becomes $, and any other $ is literal.
func kubeletExpand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// load runs the server's settings loader over an environment.
func load(env map[string]string) (settings.Settings, error) {
	return settings.Load(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

// envValue is the literal value of the variable name in env, and whether
// it is there as a literal.
func envValue(env []corev1.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

func envVar(t testing.TB, env []corev1.EnvVar, name string) corev1.EnvVar {
	t.Helper()
	for _, e := range env {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no variable %s in %v", name, envNames(env))
	return corev1.EnvVar{}
}

func envNames(env []corev1.EnvVar) []string {
	names := make([]string, len(env))
	for i, e := range env {
		names[i] = e.Name
	}
	return names
}

// settingFields walks the spec type like walkSettings, yielding each
// setting-tagged field with its JSON path below the object root.
func settingFields(t reflect.Type, path []string, fn func(name string, path []string, f reflect.StructField)) {
	for i := range t.NumField() {
		sf := t.Field(i)
		jsonName, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		p := append(append([]string(nil), path...), jsonName)
		if name, ok := sf.Tag.Lookup("setting"); ok {
			fn(name, p, sf)
			continue
		}
		if sf.Type.Kind() == reflect.Struct && sf.Type.PkgPath() == settingsPkg {
			settingFields(sf.Type, p, fn)
		}
	}
}

// schemaAt is the schema at a JSON path of properties.
func schemaAt(t testing.TB, path ...string) map[string]any {
	t.Helper()
	s := schema(t)
	for _, p := range path {
		props, _ := s["properties"].(map[string]any)
		next, ok := props[p].(map[string]any)
		require.True(t, ok, "no property %s in the CRD schema", strings.Join(path, "."))
		s = next
	}
	return s
}
