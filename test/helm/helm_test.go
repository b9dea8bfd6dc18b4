//go:build helm

// Package helm tests the operator's chart (charts/prefectgo) with the pinned helm binary
// and the envtest API server: `helm template` against golden files for the default values
// and two other value sets, that output applied with a server-side dry run, `helm install`
// then `helm upgrade` to a chart whose CRD gained a field, bad values refused by the
// chart's schema, and the real manager run with the installed RBAC (rbac_test.go).
// `make helm-test` builds helm and runs them; by hand:
//
//	PREFECTGO_HELM=~/.cache/prefectgo/helm-v3.22.0-k8s1.37/helm KUBEBUILDER_ASSETS=$(hack/envtest.sh) \
//	  go test -tags helm -count=1 ./test/helm [-args -update]
package helm

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	repoRoot   = "../.."
	chartDir   = repoRoot + "/charts/prefectgo"
	crdFile    = repoRoot + "/config/crd/bases/prefectgo.dev_prefectservers.yaml"
	crdFiles   = repoRoot + "/config/crd/bases/*.yaml"
	fieldOwner = "prefectgo-helm-test"
)

// cases are the value sets rendered to golden files and applied with a dry run.
var cases = []struct {
	name      string
	values    string // a file in testdata, or none for the chart's defaults
	namespace string // the release namespace
	crds      int    // CRDs rendered
}{
	{name: "default", namespace: "prefectgo-system", crds: 5},
	// One namespace watched with a Role, no leader election, images and scheduling set.
	{name: "namespaced", values: "testdata/values-namespaced.yaml", namespace: "prefect-operator", crds: 5},
	// Two replicas, metrics Service and ServiceMonitor, the CRD left to someone else.
	{name: "metrics", values: "testdata/values-metrics.yaml", namespace: "monitoring", crds: 0},
}

// helm runs the pinned helm binary and returns its stdout; a failure carries stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("PREFECTGO_HELM")
	if bin == "" {
		t.Fatal("PREFECTGO_HELM is not set: run `make helm-test`, which builds the pinned helm")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func render(t *testing.T, name, values, namespace string) string {
	t.Helper()
	args := []string{"template", "prefectgo", chartDir, "--namespace", namespace}
	if values != "" {
		args = append(args, "-f", values)
	}
	out, err := helm(t, args...)
	require.NoError(t, err)
	return out
}

// documents splits helm's output into objects, dropping empty documents.
func documents(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		require.NoError(t, err)
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// TestTemplate compares `helm template` with the golden files. The CRD's spec, thousands
// of lines, is checked against config/crd/bases instead and left out of the golden files.
func TestTemplate(t *testing.T) {
	t.Parallel()
	want := readCRDSpecs(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := render(t, tc.name, tc.values, tc.namespace)
			var golden strings.Builder
			crds := 0
			for _, doc := range strings.Split(out, "\n---\n") {
				doc = strings.TrimPrefix(doc, "---\n")
				if strings.Contains(doc, "\nkind: CustomResourceDefinition\n") {
					crds++
					objs := documents(t, doc)
					require.Len(t, objs, 1)
					require.Equal(t, want[objs[0].GetName()], objs[0].Object["spec"], "the chart's CRD spec of %s differs from config/crd/bases: run `make helm-chart`", objs[0].GetName())
					doc = doc[:strings.Index(doc, "\nspec:\n")] + "\nspec: {} # elided: equal to config/crd/bases (checked by TestTemplate)"
				}
				golden.WriteString("---\n" + strings.TrimSpace(doc) + "\n")
			}
			require.Equal(t, tc.crds, crds, "CRDs rendered")
			path := filepath.Join("testdata", "golden", tc.name+".yaml")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(golden.String()), 0o644))
			}
			b, err := os.ReadFile(path)
			require.NoError(t, err, "run `make helm-test UPDATE=1` to write the golden files")
			require.Equal(t, string(b), golden.String(), "rendering changed: review and run `make helm-test UPDATE=1`")
		})
	}
}

func readCRDSpecs(t *testing.T) map[string]any {
	t.Helper()
	files, err := filepath.Glob(crdFiles)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var crd map[string]any
		require.NoError(t, sigsyaml.Unmarshal(b, &crd))
		out[crd["metadata"].(map[string]any)["name"].(string)] = crd["spec"]
	}
	return out
}

// TestDefaultsMatchKustomize keeps the chart's manager Deployment, with default values, in
// step with config/manager, the kustomize install.
func TestDefaultsMatchKustomize(t *testing.T) {
	t.Parallel()
	var rendered appsv1.Deployment
	for _, u := range documents(t, render(t, "default", "", "prefectgo-system")) {
		if u.GetKind() == "Deployment" {
			b, err := u.MarshalJSON()
			require.NoError(t, err)
			require.NoError(t, sigsyaml.Unmarshal(b, &rendered))
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "config", "manager", "manager.yaml"))
	require.NoError(t, err)
	var kust appsv1.Deployment
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if strings.Contains(doc, "kind: Deployment") {
			require.NoError(t, sigsyaml.Unmarshal([]byte(doc), &kust))
		}
	}
	require.NotEmpty(t, kust.Spec.Template.Spec.Containers)
	require.NotEmpty(t, rendered.Spec.Template.Spec.Containers)

	got, want := rendered.Spec.Template.Spec, kust.Spec.Template.Spec
	require.Equal(t, want.SecurityContext, got.SecurityContext)
	require.Equal(t, want.TerminationGracePeriodSeconds, got.TerminationGracePeriodSeconds)
	gc, wc := got.Containers[0], want.Containers[0]
	require.Equal(t, wc.Name, gc.Name)
	require.Equal(t, wc.Command, gc.Command)
	require.Subset(t, gc.Args, wc.Args)
	require.Equal(t, wc.Ports, gc.Ports)
	require.Equal(t, wc.LivenessProbe, gc.LivenessProbe)
	require.Equal(t, wc.ReadinessProbe, gc.ReadinessProbe)
	require.Equal(t, wc.Resources, gc.Resources)
	require.Equal(t, wc.SecurityContext, gc.SecurityContext)
	require.Equal(t, []string{"PREFECT_SERVER_IMAGE"}, envNames(wc.Env))
	require.Equal(t, envNames(wc.Env), envNames(gc.Env))
	require.Equal(t, gc.Image, gc.Env[0].Value, "server pods run the operator's image by default")
	require.Equal(t, kust.Spec.Template.Annotations, rendered.Spec.Template.Annotations)
}

func envNames(env []corev1.EnvVar) []string {
	var names []string
	for _, e := range env {
		names = append(names, e.Name)
	}
	return names
}

// TestDryRunApply applies every rendered object with a server-side dry run (all admission
// and validation, nothing stored): the API server accepts the CRD, the RBAC, the
// Deployment and the rest. A stand-in ServiceMonitor CRD (testdata/crds) makes the
// monitoring.coreos.com kind known.
func TestDryRunApply(t *testing.T) {
	t.Parallel()
	e := testEnv(t)
	ctx := t.Context()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := documents(t, render(t, tc.name, tc.values, tc.namespace))
			require.NotEmpty(t, objs)
			namespaces := map[string]bool{tc.namespace: true}
			for _, u := range objs {
				if ns := u.GetNamespace(); ns != "" {
					namespaces[ns] = true
				}
			}
			for ns := range namespaces {
				ensureNamespace(t, e.client, ns)
			}
			kinds := map[string]int{}
			for _, u := range objs {
				kinds[u.GetKind()]++
				err := e.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
					client.DryRunAll, client.FieldOwner(fieldOwner), client.ForceOwnership)
				require.NoError(t, err, "%s %s", u.GetKind(), u.GetName())
			}
			t.Logf("applied with dry run: %v", kinds)
			require.Equal(t, 1, kinds["Deployment"])
		})
	}
}

// TestInstallUpgrade installs the chart, then upgrades to a newer chart whose CRD has a
// field more, made the way `make helm-chart` makes it (the field added to the CRD in a copy
// of config/, hack/helmchart run on a copy of the chart): before the upgrade the API server
// refuses a PrefectServer with that field, after it the field is stored. Uninstalling keeps
// the CRD and the PrefectServer (helm.sh/resource-policy: keep).
func TestInstallUpgrade(t *testing.T) {
	t.Parallel()
	e := ownEnv(t)
	ctx := t.Context()
	const ns, release, field = "prefectgo-helm", "prefectgo", "helmUpgradeProbe"
	kube := []string{"--kubeconfig", e.kubeconfig, "--namespace", ns}

	out, err := helm(t, append([]string{"install", release, chartDir, "--create-namespace"}, kube...)...)
	require.NoError(t, err)
	t.Logf("helm install:\n%s", out)
	require.Contains(t, out, "kind: PrefectServer", "NOTES.txt shows how to create a first PrefectServer")

	server := func(value string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("prefectgo.dev/v1alpha1")
		u.SetKind("PrefectServer")
		u.SetNamespace(ns)
		u.SetName("prefect")
		require.NoError(t, unstructured.SetNestedField(u.Object, value, "spec", field))
		return u
	}
	apply := func(u *unstructured.Unstructured) error {
		return e.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership)
	}
	// helm does not wait for a CRD in templates/ to be served; the client's discovery
	// catches up on its own.
	require.Eventually(t, func() bool {
		err = apply(server("before"))
		return err != nil && strings.Contains(err.Error(), "not declared in schema")
	}, 30*time.Second, 200*time.Millisecond, "the installed CRD has no spec.%s: %v", field, err)
	require.ErrorContains(t, err, field)

	newer := newerChart(t, field)
	_, err = helm(t, append([]string{"upgrade", release, newer}, kube...)...)
	require.NoError(t, err)
	history, err := helm(t, append([]string{"history", release, "--output", "json"}, kube...)...)
	require.NoError(t, err)
	require.Contains(t, history, `"chart":"prefectgo-0.1.1-upgrade-test"`)

	// The API server takes a moment to serve the new schema.
	require.Eventually(t, func() bool { return apply(server("after")) == nil }, 30*time.Second, 200*time.Millisecond,
		"after the upgrade the CRD accepts spec.%s", field)
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("prefectgo.dev/v1alpha1")
	got.SetKind("PrefectServer")
	require.NoError(t, e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "prefect"}, got))
	v, _, _ := unstructured.NestedString(got.Object, "spec", field)
	require.Equal(t, "after", v, "the new field is stored, not pruned")

	out, err = helm(t, append([]string{"uninstall", release}, kube...)...)
	require.NoError(t, err)
	require.Contains(t, out, "kept due to the resource policy")
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	require.NoError(t, e.client.Get(ctx, client.ObjectKey{Name: "prefectservers.prefectgo.dev"}, crd), "the CRD outlives the release")
	require.NoError(t, e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "prefect"}, got), "and so does the PrefectServer")
}

// newerChart copies the chart and the parts of config/ the generator reads into a
// temporary directory, adds a string field to the CRD's spec, regenerates the chart from
// it and bumps the chart's version.
func newerChart(t *testing.T, field string) string {
	t.Helper()
	dir := t.TempDir()
	chart, config := filepath.Join(dir, "prefectgo"), filepath.Join(dir, "config")
	copyDir(t, chartDir, chart)
	copyDir(t, filepath.Join(repoRoot, "config", "rbac"), filepath.Join(config, "rbac"))

	b, err := os.ReadFile(crdFile)
	require.NoError(t, err)
	var crd map[string]any
	require.NoError(t, sigsyaml.Unmarshal(b, &crd))
	versions, _, err := unstructured.NestedSlice(crd, "spec", "versions")
	require.NoError(t, err)
	require.Len(t, versions, 1)
	v := versions[0].(map[string]any)
	require.NoError(t, unstructured.SetNestedField(v, map[string]any{
		"type":        "string",
		"description": "A field the chart's next version adds (TestInstallUpgrade).",
	}, "schema", "openAPIV3Schema", "properties", "spec", "properties", field))
	require.NoError(t, unstructured.SetNestedSlice(crd, versions, "spec", "versions"))
	b, err = sigsyaml.Marshal(crd)
	require.NoError(t, err)
	copyDir(t, filepath.Join(repoRoot, "config", "crd", "bases"), filepath.Join(config, "crd", "bases"))
	require.NoError(t, os.WriteFile(filepath.Join(config, "crd", "bases", filepath.Base(crdFile)), b, 0o644))

	abs := func(p string) string { p, err := filepath.Abs(p); require.NoError(t, err); return p }
	cmd := exec.Command("go", "run", "./hack/helmchart", "-config", config, "-chart", chart)
	cmd.Dir = abs(repoRoot)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	tpl, err := os.ReadFile(filepath.Join(chart, "templates", "crd", "prefectservers.prefectgo.dev.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(tpl), field+":", "the generator carried the field into the chart")

	meta := filepath.Join(chart, "Chart.yaml")
	b, err = os.ReadFile(meta)
	require.NoError(t, err)
	bumped := strings.Replace(string(b), "\nversion: 0.1.0\n", "\nversion: 0.1.1-upgrade-test\n", 1)
	require.NotEqual(t, string(b), bumped, "Chart.yaml has version 0.1.0; update this test with the chart's version")
	require.NoError(t, os.WriteFile(meta, []byte(bumped), 0o644))
	return chart
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	}))
}

// TestBadValues: values the chart cannot run with fail before anything is applied, with a
// message naming the value: the schema's for types, enums, patterns and unknown keys
// (typos), the chart's own for combinations.
func TestBadValues(t *testing.T) {
	t.Parallel()
	e := testEnv(t)

	t.Run("InstallDryRun", func(t *testing.T) {
		t.Parallel()
		values := filepath.Join(t.TempDir(), "values.yaml")
		require.NoError(t, os.WriteFile(values, []byte("replicaCount: \"two\"\n"), 0o644))
		_, err := helm(t, "install", "prefectgo", chartDir, "--dry-run", "-f", values,
			"--kubeconfig", e.kubeconfig, "--namespace", "prefectgo-bad-values")
		require.ErrorContains(t, err, "values don't meet the specifications of the schema(s)")
		require.ErrorContains(t, err, "at '/replicaCount': got string, want integer")
	})

	// schema: the schema refuses it, so helm lint does too (lint does not run the
	// chart's fail calls).
	for _, tc := range []struct {
		name, values, want string
		schema             bool
	}{
		{"WrongType", "replicaCount: \"two\"", "at '/replicaCount': got string, want integer", true},
		{"Typo", "replicas: 2", "additional properties 'replicas' not allowed", true},
		{"NestedTypo", "image:\n  repo: example/prefectgo", "at '/image': additional properties 'repo' not allowed", true},
		{"PullPolicy", "image:\n  pullPolicy: Sometimes", "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'", true},
		{"Namespace", "watchNamespace: Prefect_NS", "at '/watchNamespace': 'Prefect_NS' does not match pattern", true},
		{"LogLevel", "logLevel: verbose", "at '/logLevel': value must be one of", true},
		{"Port", "metrics:\n  port: 70000", "at '/metrics/port': maximum: got 70,000, want 65,535", true},
		{"ReplicasWithoutElection", "replicaCount: 2\nleaderElection:\n  enabled: false", "replicaCount > 1 needs leaderElection.enabled: true", false},
		{"MonitorWithoutService", "metrics:\n  serviceMonitor:\n    enabled: true", "metrics.serviceMonitor.enabled needs metrics.service.enabled: true", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			values := filepath.Join(t.TempDir(), "values.yaml")
			require.NoError(t, os.WriteFile(values, []byte(tc.values+"\n"), 0o644))
			_, err := helm(t, "template", "prefectgo", chartDir, "-f", values)
			require.ErrorContains(t, err, tc.want)
			if tc.schema {
				_, err = helm(t, "lint", "--strict", chartDir, "-f", values)
				require.ErrorContains(t, err, tc.want, "helm lint refuses it too")
			}
		})
	}
}

// env is an envtest API server with a client and, for helm, a kubeconfig of an admin.
type env struct {
	te         *envtest.Environment
	cfg        *rest.Config
	client     client.Client
	kubeconfig string
	dir        string
}

var (
	envOnce sync.Once
	envVal  *env
	envErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if envVal != nil {
		envVal.stop()
	}
	os.Exit(code)
}

// testEnv returns the API server the tests that install nothing share, starting it on
// first use. Without KUBEBUILDER_ASSETS the test fails: `make helm-test` sets it.
func testEnv(t *testing.T) *env {
	t.Helper()
	envOnce.Do(func() { envVal, envErr = startEnv() })
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envVal
}

// ownEnv starts an API server for one test alone: a release owns the cluster-scoped CRD,
// so two tests installing the chart cannot share one.
func ownEnv(t *testing.T) *env {
	t.Helper()
	e, err := startEnv()
	require.NoError(t, err)
	t.Cleanup(e.stop)
	return e
}

func startEnv() (*env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run `make helm-test`, or `KUBEBUILDER_ASSETS=$(hack/envtest.sh)`")
	}
	e := &env{te: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}}
	var err error
	if e.cfg, err = e.te.Start(); err != nil {
		return nil, fmt.Errorf("start envtest (KUBEBUILDER_ASSETS=%s): %w", assets, err)
	}
	if err := e.setUp(); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *env) setUp() error {
	var err error
	if e.client, err = client.New(e.cfg, client.Options{}); err != nil {
		return err
	}
	if e.dir, err = os.MkdirTemp("", "prefectgo-helm-test-"); err != nil {
		return err
	}
	e.kubeconfig, err = e.kubeconfigFor(envtest.User{Name: "helm", Groups: []string{"system:masters"}})
	return err
}

// kubeconfigFor writes a kubeconfig that authenticates as user (a client certificate).
func (e *env) kubeconfigFor(user envtest.User) (string, error) {
	u, err := e.te.AddUser(user, nil)
	if err != nil {
		return "", err
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(e.dir, "kubeconfig-")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(kc); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

func (e *env) stop() {
	_ = e.te.Stop()
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

var nsMu sync.Mutex

func ensureNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	nsMu.Lock()
	defer nsMu.Unlock()
	ns := &corev1.Namespace{}
	ns.Name = name
	if err := c.Create(context.Background(), ns); !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}
