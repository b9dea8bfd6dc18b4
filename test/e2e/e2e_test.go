//go:build e2e

// Package e2e runs the operator on a real single-node cluster and the real prefect client
// against the servers it starts. `make test-e2e` (hack/e2e.sh) brings the cluster up, imports
// the image, starts a PostgreSQL the pods can reach, runs these tests and takes it all down.
// Against a cluster left up by E2E_KEEP=1 make test-e2e, run one with:
//
//	source <(hack/cluster.sh env)
//	PREFECTGO_E2E_PYTHON=~/.cache/prefectgo/venv-3.9.1/bin/python go test -tags e2e -count=1 -v -run TestSQLite ./test/e2e
//
// kubectl (on PATH) is the only way the tests touch the cluster, as a user would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/server/settings"
)

// The environment hack/e2e.sh sets.
var (
	image       = envOr("PREFECTGO_E2E_IMAGE", "localhost/prefectgo:e2e")
	python      = os.Getenv("PREFECTGO_E2E_PYTHON")       // the venv with the real prefect client
	pgAdminURL  = os.Getenv("PREFECTGO_E2E_PG_ADMIN_URL") // PostgreSQL for the tests, from the host
	pgHost      = os.Getenv("PREFECTGO_E2E_PG_HOST")      // the same, as the pods reach it
	pgPort      = os.Getenv("PREFECTGO_E2E_PG_PORT")
	repoRoot, _ = filepath.Abs("../..")
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	if os.Getenv("KUBECONFIG") == "" || python == "" {
		fmt.Fprintln(os.Stderr, "e2e: KUBECONFIG and PREFECTGO_E2E_PYTHON must be set: run make test-e2e")
		os.Exit(1)
	}
	if err := installOperator(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: installing the operator:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// installOperator applies config/default as a user would, with the image set as
// `kustomize edit set image` sets it (config/default copies it into PREFECT_SERVER_IMAGE for
// the server pods) and imagePullPolicy Never: the image is imported, not pulled.
func installOperator() error {
	dir, err := os.MkdirTemp("", "e2e-kustomize-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.CopyFS(filepath.Join(dir, "config"), os.DirFS(filepath.Join(repoRoot, "config"))); err != nil {
		return err
	}
	name, tag, _ := strings.Cut(image, ":")
	kpath := filepath.Join(dir, "config", "manager", "kustomization.yaml")
	k, err := os.ReadFile(kpath)
	if err != nil {
		return err
	}
	k = regexp.MustCompile(`(?m)^(\s*)newName: .*$`).ReplaceAll(k, []byte("${1}newName: "+name))
	k = regexp.MustCompile(`(?m)^(\s*)newTag: .*$`).ReplaceAll(k, []byte("${1}newTag: "+tag))
	if err := os.WriteFile(kpath, k, 0o644); err != nil {
		return err
	}
	overlay := `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../config/default
patches:
- target: {kind: Deployment, name: controller-manager}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/imagePullPolicy
      value: Never
`
	if err := os.MkdirAll(filepath.Join(dir, "e2e"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "e2e", "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
		return err
	}
	rendered, err := kubectl(nil, "kustomize", filepath.Join(dir, "e2e"))
	if err != nil {
		return err
	}
	if !strings.Contains(rendered, "value: "+image) {
		return fmt.Errorf("the rendered manager does not pass %s to server pods in PREFECT_SERVER_IMAGE", image)
	}
	for _, args := range [][]string{
		{"apply", "--server-side", "-k", filepath.Join(dir, "e2e")},
		{"wait", "--for=condition=Established", "crd/prefectservers.prefectgo.dev", "--timeout=60s"},
		{"-n", "prefectgo-system", "rollout", "status", "deployment/prefectgo-controller-manager", "--timeout=180s"},
	} {
		if _, err := kubectl(nil, args...); err != nil {
			out, _ := kubectl(nil, "-n", "prefectgo-system", "logs", "deployment/prefectgo-controller-manager", "--tail=40")
			return fmt.Errorf("%w\nmanager log:\n%s", err, out)
		}
	}
	return nil
}

// ---------------------------------------------------------------- kubectl

// kubectl runs kubectl with stdin (if not nil) and returns its stdout; an error carries stderr.
func kubectl(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func mustKubectl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// getJSON decodes `kubectl get ... -o json` into v.
func getJSON(v any, args ...string) error {
	out, err := kubectl(nil, append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

// eventually calls f every second until it returns nil, and fails the test with its last
// error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// namespace creates a fresh namespace for one test and deletes it afterwards.
func namespace(t *testing.T, name string) string {
	t.Helper()
	_, _ = kubectl(nil, "delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=120s")
	mustKubectl(t, nil, "create", "namespace", name)
	t.Cleanup(func() {
		if t.Failed() {
			dumpNamespace(t, name)
		}
		_, _ = kubectl(nil, "delete", "namespace", name, "--wait=false")
	})
	return name
}

// dumpNamespace logs what a failed test leaves behind, for the CI log.
func dumpNamespace(t *testing.T, ns string) {
	out, _ := kubectl(nil, "-n", ns, "get", "prefectservers,deployments,pods,jobs,cronjobs,pvc,svc,events", "-o", "wide")
	t.Logf("namespace %s:\n%s", ns, out)
	out, _ = kubectl(nil, "-n", ns, "get", "prefectservers", "-o", "yaml")
	t.Logf("prefectservers:\n%s", out)
	out, _ = kubectl(nil, "-n", ns, "logs", "-l", "app.kubernetes.io/name=prefect-server", "--all-containers", "--prefix", "--tail=30")
	t.Logf("server logs:\n%s", out)
	out, _ = kubectl(nil, "-n", "prefectgo-system", "logs", "deployment/prefectgo-controller-manager", "--tail=40")
	t.Logf("manager log:\n%s", out)
}

// ---------------------------------------------------------------- PrefectServer helpers

func prefectServer(ns, name string) (*v1alpha1.PrefectServer, error) {
	ps := &v1alpha1.PrefectServer{}
	return ps, getJSON(ps, "-n", ns, "prefectserver", name)
}

// waitReady waits for the PrefectServer's Ready condition at its current generation with
// replicas ready replicas, and returns it.
func waitReady(t *testing.T, ns, name string, replicas int32) *v1alpha1.PrefectServer {
	t.Helper()
	var ps *v1alpha1.PrefectServer
	eventually(t, 4*time.Minute, "PrefectServer "+name+" Ready", func() error {
		var err error
		if ps, err = prefectServer(ns, name); err != nil {
			return err
		}
		ready := meta.FindStatusCondition(ps.Status.Conditions, "Ready")
		switch {
		case ps.Status.ObservedGeneration != ps.Generation:
			return fmt.Errorf("observedGeneration %d, generation %d", ps.Status.ObservedGeneration, ps.Generation)
		case ready == nil || ready.Status != metav1.ConditionTrue:
			return fmt.Errorf("Ready: %+v", ready)
		case ps.Status.ReadyReplicas != replicas:
			return fmt.Errorf("%d ready replicas, want %d", ps.Status.ReadyReplicas, replicas)
		}
		return nil
	})
	return ps
}

// serverPods are the server pods of PrefectServer name that are not terminating.
func serverPods(ns, name string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := getJSON(&list, "-n", ns, "pods", "-l", "app.kubernetes.io/component=server,app.kubernetes.io/instance="+name); err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// apiURL is the server's API through its Service's ClusterIP, which kube-proxy makes
// reachable from the host.
func apiURL(t *testing.T, ns, name string) string {
	t.Helper()
	var svc corev1.Service
	if err := getJSON(&svc, "-n", ns, "service", name); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://%s:4200/api", svc.Spec.ClusterIP)
}

func podNames(pods []corev1.Pod) []string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return names
}

// checkUI loads both web UIs from base (the server's root through its Service) as a
// browser would: a page load of / goes to the V2 UI (the default) and, with the V1 UI
// chosen by cookie, to the V1 UI; each answers its index.html, whose module script
// loads; /ui-settings gives the API URL the operator derived, which resolved against
// the page reaches the API.
func checkUI(t *testing.T, base string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	get := func(path string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(req.Header, header)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", path, resp.Status, tail(string(body), 300))
		}
		return resp, body
	}
	script := regexp.MustCompile(`<script type="module"[^>]* src="([^"]+)"`)
	for _, tc := range []struct {
		name, cookie, wantPath, wantRoot, wantScript string
	}{
		{"V2 by default", "", "/v2/", `<div id="root"`, "/v2/assets/"},
		{"V1 when chosen", "v1", "/", `<div id="app"`, "/assets/"},
	} {
		header := http.Header{"Accept": {"text/html,application/xhtml+xml"}}
		if tc.cookie != "" {
			header.Set("Cookie", "prefect_ui_version="+tc.cookie)
		}
		resp, body := get("/", header)
		if resp.Request.URL.Path != tc.wantPath {
			t.Errorf("%s: a page load of / ended at %s, want %s", tc.name, resp.Request.URL.Path, tc.wantPath)
		}
		if !strings.Contains(string(body), tc.wantRoot) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: not the UI's index.html (%s):\n%s", tc.name, resp.Header.Get("Content-Type"), tail(string(body), 500))
		}
		m := script.FindStringSubmatch(string(body))
		if m == nil || !strings.HasPrefix(m[1], tc.wantScript) {
			t.Fatalf("%s: no module script under %s in index.html: %v", tc.name, tc.wantScript, m)
		}
		resp, _ = get(m[1], nil)
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
			t.Errorf("%s: %s is %s", tc.name, m[1], ct)
		}
	}

	var settings struct {
		APIURL       string   `json:"api_url"`
		DefaultUI    string   `json:"default_ui"`
		AvailableUIs []string `json:"available_uis"`
	}
	_, body := get("/ui-settings", nil)
	if err := json.Unmarshal(body, &settings); err != nil {
		t.Fatalf("/ui-settings: %v: %s", err, body)
	}
	if settings.APIURL != "/api" || settings.DefaultUI != "v2" || fmt.Sprint(settings.AvailableUIs) != "[v1 v2]" {
		t.Errorf("/ui-settings: %s", body)
	}
	page, err := url.Parse(base + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	apiURL, err := page.Parse(settings.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Get(apiURL.String() + "/health"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the UI's API URL %s: %v %v", apiURL, resp, err)
	} else {
		resp.Body.Close()
	}
}

// ---------------------------------------------------------------- the prefect client

// client runs test/e2e/testdata/client.py with the real prefect client against api and
// returns its E2E_RESULT.
func client(t *testing.T, api string, args ...string) map[string]any {
	t.Helper()
	cmd := clientCmd(t, api, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res, perr := parseResult(stdout.String())
	if err != nil || perr != nil {
		t.Fatalf("client.py %s: %v %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, perr, tail(stdout.String(), 3000), tail(stderr.String(), 3000))
	}
	return res
}

func clientCmd(t *testing.T, api string, args ...string) *exec.Cmd {
	home := t.TempDir()
	cmd := exec.Command(python, append([]string{filepath.Join(repoRoot, "test", "e2e", "testdata", "client.py")}, args...)...)
	cmd.Dir = home
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"PREFECT_HOME=" + home,
		"PREFECT_API_URL=" + api,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_LOGGING_TO_API_BATCH_INTERVAL=0.3",
		// A request to a pod that just went away must fail fast and be retried.
		"PREFECT_API_REQUEST_TIMEOUT=10",
		"PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1",
	}
	return cmd
}

func parseResult(stdout string) (map[string]any, error) {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(lines[i], "E2E_RESULT "); ok {
			var res map[string]any
			return res, json.Unmarshal([]byte(rest), &res)
		}
	}
	return nil, errors.New("no E2E_RESULT line")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// adminSetting reads one effective setting from /api/admin/settings.
func adminSetting(api, env string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(api + "/admin/settings")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tree map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tree); err != nil {
		return "", err
	}
	for _, st := range settings.Table() {
		if st.Env == env {
			v, _ := st.In(tree)
			return v, nil
		}
	}
	return "", fmt.Errorf("no setting %s", env)
}

// ---------------------------------------------------------------- scenarios

const sqliteSample = "config/samples/prefectgo_v1alpha1_prefectserver_sqlite.yaml"

// TestSQLite: the SQLite sample runs a real flow, an edit rolls the pod, the CronJobs run
// against the live database, and the volume outlives the PrefectServer.
func TestSQLite(t *testing.T) {
	ns := namespace(t, "e2e-sqlite")
	const name = "prefect-sqlite" // the sample's
	sample := filepath.Join(repoRoot, sqliteSample)
	var api, flowRunID string

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // each step builds on the one before
		}
	}

	step("ReadyWithURL", func(t *testing.T) {
		mustKubectl(t, nil, "-n", ns, "apply", "-f", sample)
		ps := waitReady(t, ns, name, 1)
		if want := "http://" + name + "." + ns + ".svc:4200/api"; ps.Status.URL != want {
			t.Errorf("status.url %q, want %q", ps.Status.URL, want)
		}
		if want := "http://" + name + "." + ns + ".svc:4200/"; ps.Status.UIURL != want {
			t.Errorf("status.uiUrl %q, want %q", ps.Status.UIURL, want)
		}
		api = apiURL(t, ns, name)
	})

	step("UIThroughTheService", func(t *testing.T) {
		checkUI(t, strings.TrimSuffix(api, "/api"))
	})

	step("ExposedByTheSpec", func(t *testing.T) {
		// No ingress controller and no Gateway API here: what the operator does with the
		// spec, under its real RBAC, is what is checked.
		host := name + ".e2e.example"
		before, err := serverPods(ns, name)
		if err != nil {
			t.Fatal(err)
		}
		mustKubectl(t, nil, "-n", ns, "patch", "prefectserver", name, "--type=merge", "-p",
			`{"spec":{"ingress":{"host":"`+host+`"},"httpRoute":{"parentRefs":[{"name":"gw"}],"hostnames":["`+host+`"]}}}`)
		eventually(t, time.Minute, "the Ingress, and a condition for the missing Gateway API", func() error {
			var ing networkingv1.Ingress
			if err := getJSON(&ing, "-n", ns, "ingress", name); err != nil {
				return err
			}
			if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != host {
				return fmt.Errorf("ingress rules %+v", ing.Spec.Rules)
			}
			ps, err := prefectServer(ns, name)
			if err != nil {
				return err
			}
			exposed := meta.FindStatusCondition(ps.Status.Conditions, "Exposed")
			if exposed == nil || exposed.Status != metav1.ConditionFalse || exposed.Reason != "GatewayAPINotInstalled" {
				return fmt.Errorf("Exposed: %+v", exposed)
			}
			if want := "http://" + host + "/"; ps.Status.UIURL != want {
				return fmt.Errorf("status.uiUrl %q, want %q", ps.Status.UIURL, want)
			}
			return nil
		})
		waitReady(t, ns, name, 1)
		mustKubectl(t, nil, "-n", ns, "patch", "prefectserver", name, "--type=json", "-p",
			`[{"op":"remove","path":"/spec/ingress"},{"op":"remove","path":"/spec/httpRoute"}]`)
		eventually(t, time.Minute, "the Ingress deleted", func() error {
			if _, err := kubectl(nil, "-n", ns, "get", "ingress", name); err == nil {
				return errors.New("the Ingress is still there")
			}
			ps, err := prefectServer(ns, name)
			if err != nil {
				return err
			}
			if c := meta.FindStatusCondition(ps.Status.Conditions, "Exposed"); c != nil {
				return fmt.Errorf("Exposed: %+v", c)
			}
			return nil
		})
		// Exposure is not configuration (the UI's API URL is relative): no pod rolled.
		after, err := serverPods(ns, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != 1 || len(before) != 1 || after[0].UID != before[0].UID {
			t.Errorf("the server pod changed: %s before, %s after", podNames(before), podNames(after))
		}
	})

	step("FlowWithTasksAndLogs", func(t *testing.T) {
		res := client(t, api, "run")
		t.Logf("flow run: %v", res)
		flowRunID, _ = res["flow_run_id"].(string)
		if res["state"] != "COMPLETED" || res["task_runs"].(float64) < 5 || res["marker_logged"] != true ||
			fmt.Sprint(res["task_states"]) != "[COMPLETED]" {
			t.Errorf("flow run read back: %v", res)
		}
	})

	step("EditRollsPods", func(t *testing.T) {
		before, err := serverPods(ns, name)
		if err != nil {
			t.Fatal(err)
		}
		mustKubectl(t, nil, "-n", ns, "patch", "prefectserver", name, "--type=merge",
			"-p", `{"spec":{"api":{"defaultLimit":150},"events":{"retentionPeriod":"P5D"}}}`)
		waitReady(t, ns, name, 1)
		eventually(t, 3*time.Minute, "a new pod serving the new settings", func() error {
			pods, err := serverPods(ns, name)
			if err != nil {
				return err
			}
			for _, p := range pods {
				for _, b := range before {
					if p.Name == b.Name {
						return fmt.Errorf("pod %s still runs", p.Name)
					}
				}
			}
			for env, want := range map[string]string{
				"PREFECT_SERVER_API_DEFAULT_LIMIT":       "150",
				"PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "P5D",
			} {
				if got, err := adminSetting(api, env); err != nil || got != want {
					return fmt.Errorf("%s = %q (%v), want %q", env, got, err, want)
				}
			}
			return nil
		})
	})

	step("CronJobsRunOnTheLiveDatabase", func(t *testing.T) {
		// A deployment with a schedule, made through the server: only a scheduler pass that
		// reads the server's database can give it runs (the server pod runs no scheduler
		// beside the CronJob).
		deployment, _ := client(t, api, "deploy")["deployment_id"].(string)
		for _, cj := range []string{"retention", "scheduler"} {
			job := "e2e-" + cj
			mustKubectl(t, nil, "-n", ns, "create", "job", job, "--from=cronjob/"+name+"-"+cj)
			if _, err := kubectl(nil, "-n", ns, "wait", "--for=condition=Complete", "job/"+job, "--timeout=180s"); err != nil {
				out, _ := kubectl(nil, "-n", ns, "logs", "job/"+job)
				t.Fatalf("%v\njob log:\n%s", err, out)
			}
			out := mustKubectl(t, nil, "-n", ns, "logs", "job/"+job)
			t.Logf("%s: %s", job, strings.TrimSpace(out))
		}
		// The scheduler Job's runs (or those of a scheduled run of the CronJob that came
		// first) are in the server's database.
		res := client(t, api, "scheduled", deployment)
		if res["flow_runs"].(float64) < 1 {
			t.Errorf("deployment %s has no flow runs after the scheduler Job: %v", deployment, res)
		}
		t.Logf("scheduled: %v", res)
	})

	step("BackupRestoresIntoANewServer", func(t *testing.T) {
		// A backup Job made from the CronJob (the sample's spec.backup), beside the live
		// server; its pod's report becomes status.lastBackup.
		job := "e2e-backup"
		mustKubectl(t, nil, "-n", ns, "create", "job", job, "--from=cronjob/"+name+"-backup")
		if _, err := kubectl(nil, "-n", ns, "wait", "--for=condition=Complete", "job/"+job, "--timeout=180s"); err != nil {
			out, _ := kubectl(nil, "-n", ns, "logs", "job/"+job)
			t.Fatalf("%v\njob log:\n%s", err, out)
		}
		var last *v1alpha1.BackupStatus
		eventually(t, time.Minute, "status.lastBackup from the Job's pod", func() error {
			ps, err := prefectServer(ns, name)
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(ps.Status.Conditions, "BackedUp")
			if last = ps.Status.LastBackup; last == nil || last.Job != job || last.SizeBytes == 0 || c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("status.lastBackup %+v, BackedUp %+v", last, c)
			}
			return nil
		})
		// A second server restores that file from the same claim before it starts, and
		// serves the run made on the first.
		restored := fmt.Sprintf("apiVersion: prefectgo.dev/v1alpha1\nkind: PrefectServer\nmetadata: {name: restored}\n"+
			"spec: {storage: {sqlite: {restoreFrom: %q}}, backup: {volumeClaimName: %q}}\n", last.File, last.VolumeClaimName)
		mustKubectl(t, []byte(restored), "-n", ns, "apply", "-f", "-")
		waitReady(t, ns, "restored", 1)
		res := client(t, apiURL(t, ns, "restored"), "get", flowRunID)
		if res["flow_run_id"] != flowRunID || res["state"] != "COMPLETED" {
			t.Errorf("flow run %s on the restored server: %v", flowRunID, res)
		}
		mustKubectl(t, nil, "-n", ns, "delete", "prefectserver", "restored", "--wait=true", "--timeout=120s")
	})

	step("SuspendAndResumeKeepTheRun", func(t *testing.T) {
		mustKubectl(t, nil, "-n", ns, "patch", "prefectserver", name, "--type=merge", "-p", `{"spec":{"suspend":true}}`)
		eventually(t, 2*time.Minute, "no server pod, suspended CronJobs and Ready=False/Suspended", func() error {
			pods, err := serverPods(ns, name)
			if err != nil {
				return err
			}
			if len(pods) > 0 {
				return fmt.Errorf("pods left: %s", podNames(pods))
			}
			for _, cj := range []string{"retention", "scheduler"} {
				var c batchv1.CronJob
				if err := getJSON(&c, "-n", ns, "cronjob", name+"-"+cj); err != nil {
					return err
				}
				if c.Spec.Suspend == nil || !*c.Spec.Suspend {
					return fmt.Errorf("CronJob %s not suspended", c.Name)
				}
			}
			ps, err := prefectServer(ns, name)
			if err != nil {
				return err
			}
			if c := meta.FindStatusCondition(ps.Status.Conditions, "Ready"); c == nil || c.Reason != "Suspended" {
				return fmt.Errorf("Ready: %+v", c)
			}
			return nil
		})
		mustKubectl(t, nil, "-n", ns, "patch", "prefectserver", name, "--type=merge", "-p", `{"spec":{"suspend":false}}`)
		waitReady(t, ns, name, 1)
		res := client(t, api, "get", flowRunID)
		if res["flow_run_id"] != flowRunID || res["state"] != "COMPLETED" {
			t.Errorf("flow run %s after suspend and resume: %v", flowRunID, res)
		}
	})

	step("VolumeOutlivesThePrefectServer", func(t *testing.T) {
		var pvc corev1.PersistentVolumeClaim
		if err := getJSON(&pvc, "-n", ns, "pvc", name+"-data"); err != nil {
			t.Fatal(err)
		}
		mustKubectl(t, nil, "-n", ns, "delete", "prefectserver", name, "--wait=true", "--timeout=120s")
		eventually(t, 2*time.Minute, "the server pods gone", func() error {
			var list corev1.PodList
			if err := getJSON(&list, "-n", ns, "pods", "-l", "app.kubernetes.io/instance="+name); err != nil {
				return err
			}
			if len(list.Items) > 0 {
				return fmt.Errorf("%d pods left", len(list.Items))
			}
			return nil
		})
		var after corev1.PersistentVolumeClaim
		if err := getJSON(&after, "-n", ns, "pvc", name+"-data"); err != nil {
			t.Fatalf("the PVC went with the PrefectServer: %v", err)
		}
		if after.UID != pvc.UID || after.DeletionTimestamp != nil {
			t.Fatalf("the PVC was replaced or is being deleted: %+v", after.ObjectMeta)
		}
		mustKubectl(t, nil, "-n", ns, "apply", "-f", sample)
		waitReady(t, ns, name, 1)
		api = apiURL(t, ns, name)
		res := client(t, api, "get", flowRunID)
		if res["flow_run_id"] != flowRunID || res["state"] != "COMPLETED" {
			t.Errorf("flow run %s after re-creating the server: %v", flowRunID, res)
		}
	})
}

// TestPostgres: two replicas on the host's PostgreSQL, credentials in a Secret; the
// migration Job runs first; a client creating flow runs rides out the loss of a pod; the
// canary passes, fails while runs cannot be written, and passes again.
func TestPostgres(t *testing.T) {
	if pgAdminURL == "" || pgHost == "" || pgPort == "" {
		t.Fatal("PREFECTGO_E2E_PG_ADMIN_URL, PREFECTGO_E2E_PG_HOST and PREFECTGO_E2E_PG_PORT must be set: run make test-e2e")
	}
	ns := namespace(t, "e2e-postgres")
	const name = "prefect-pg"
	password := createDatabase(t, "prefect_e2e")
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %[1]s-db
stringData:
  password: %[2]s
---
apiVersion: prefectgo.dev/v1alpha1
kind: PrefectServer
metadata:
  name: %[1]s
spec:
  replicas: 2
  storage:
    postgres:
      host: %[3]s
      port: %[4]s
      user: prefect_e2e
      database: prefect_e2e
      sslMode: disable
      passwordSecretRef:
        name: %[1]s-db
        key: password
`, name, password, pgHost, pgPort)
	var api string

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("MigrationThenTwoReplicas", func(t *testing.T) {
		mustKubectl(t, []byte(manifest), "-n", ns, "apply", "-f", "-")
		waitReady(t, ns, name, 2)
		var jobs batchv1.JobList
		if err := getJSON(&jobs, "-n", ns, "jobs", "-l", "app.kubernetes.io/instance="+name+",app.kubernetes.io/component=migration"); err != nil {
			t.Fatal(err)
		}
		var migrated *metav1.Time
		for _, j := range jobs.Items {
			if j.Status.Succeeded > 0 && j.Status.CompletionTime != nil {
				migrated = j.Status.CompletionTime
			}
		}
		if migrated == nil {
			t.Fatalf("no completed migration Job: %d jobs", len(jobs.Items))
		}
		var dep appsv1.Deployment
		if err := getJSON(&dep, "-n", ns, "deployment", name); err != nil {
			t.Fatal(err)
		}
		if dep.CreationTimestamp.Before(migrated) {
			t.Errorf("the Deployment was created at %s, before the migration completed at %s", dep.CreationTimestamp, migrated)
		}
		api = apiURL(t, ns, name)
	})

	step("DisruptionBudgetAndSpread", func(t *testing.T) {
		var pdb policyv1.PodDisruptionBudget
		if err := getJSON(&pdb, "-n", ns, "poddisruptionbudget", name); err != nil {
			t.Fatal(err)
		}
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("maxUnavailable %v", pdb.Spec.MaxUnavailable)
		}
		eventually(t, time.Minute, "the budget counting both pods", func() error {
			if err := getJSON(&pdb, "-n", ns, "poddisruptionbudget", name); err != nil {
				return err
			}
			if pdb.Status.ExpectedPods != 2 || pdb.Status.DisruptionsAllowed != 1 {
				return fmt.Errorf("budget status %+v", pdb.Status)
			}
			return nil
		})
		pods, err := serverPods(ns, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if c := p.Spec.TopologySpreadConstraints; len(c) != 1 || c[0].TopologyKey != corev1.LabelHostname {
				t.Errorf("pod %s spread %+v", p.Name, c)
			}
		}
	})

	step("Flow", func(t *testing.T) {
		res := client(t, api, "run")
		if res["state"] != "COMPLETED" || res["task_runs"].(float64) < 5 || res["marker_logged"] != true {
			t.Errorf("flow run read back: %v", res)
		}
	})

	step("ClientRidesOutAPodDeletion", func(t *testing.T) {
		stop := filepath.Join(t.TempDir(), "stop")
		cmd := clientCmd(t, api, "load", stop)
		var stdout bytes.Buffer
		progress := &progressWriter{}
		cmd.Stdout, cmd.Stderr = &stdout, progress
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill() }()
		eventually(t, time.Minute, "the client creating flow runs", func() error {
			if n := progress.created(); n < 40 {
				return fmt.Errorf("%d created", n)
			}
			return nil
		})
		// Each original pod in turn, so the client surely loses the one it talks to.
		pods, err := serverPods(ns, name)
		if err != nil || len(pods) != 2 {
			t.Fatalf("server pods: %d, %v", len(pods), err)
		}
		for _, victim := range pods {
			atDeletion := progress.created()
			mustKubectl(t, nil, "-n", ns, "delete", "pod", victim.Name, "--wait=false")
			t.Logf("deleted pod %s after %d flow runs", victim.Name, atDeletion)
			eventually(t, 3*time.Minute, "a replacement pod", func() error {
				now, err := serverPods(ns, name)
				if err != nil {
					return err
				}
				ready := 0
				for _, p := range now {
					if p.Name == victim.Name {
						return errors.New("the deleted pod still runs")
					}
					for _, c := range p.Status.Conditions {
						if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
							ready++
						}
					}
				}
				if ready != 2 {
					return fmt.Errorf("%d ready pods", ready)
				}
				return nil
			})
			afterReplacement := progress.created()
			eventually(t, time.Minute, "more flow runs after the replacement", func() error {
				if n := progress.created(); n < afterReplacement+40 {
					return fmt.Errorf("%d created", n)
				}
				return nil
			})
		}
		final := progress.created()
		if err := os.WriteFile(stop, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("client: %v\n%s\n%s", err, stdout.String(), progress.tail())
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("the client did not finish\n%s", progress.tail())
		}
		res, err := parseResult(stdout.String())
		if err != nil {
			t.Fatalf("%v\n%s\n%s", err, stdout.String(), progress.tail())
		}
		t.Logf("load: %v", res)
		if missing := res["missing"].([]any); len(missing) > 0 {
			t.Errorf("%d acknowledged flow runs are missing: %v", len(missing), missing)
		}
		if res["created"].(float64) < float64(final) {
			t.Errorf("created %v flow runs", res["created"])
		}
	})
	step("Canary", func(t *testing.T) { checkCanary(t, ns, name, "prefect_e2e") })
}

// progressWriter keeps client.py load's stderr and the last "load: created N" it printed.
type progressWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

var createdRE = regexp.MustCompile(`load: created (\d+)`)

func (w *progressWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, m := range createdRE.FindAllSubmatch(p, -1) {
		w.n, _ = strconv.Atoi(string(m[1]))
	}
	return len(p), nil
}

func (w *progressWriter) created() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *progressWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return tail(w.buf.String(), 4000)
}

// TestRejectedSpec: two replicas on SQLite are refused by the API server's CEL rule.
func TestRejectedSpec(t *testing.T) {
	ns := namespace(t, "e2e-rejected")
	manifest := `apiVersion: prefectgo.dev/v1alpha1
kind: PrefectServer
metadata:
  name: two-on-sqlite
spec:
  replicas: 2
  storage:
    sqlite: {}
`
	out, err := kubectl([]byte(manifest), "-n", ns, "apply", "-f", "-")
	if err == nil {
		t.Fatalf("kubectl apply accepted two replicas on SQLite: %s", out)
	}
	const msg = "more than one replica needs PostgreSQL storage"
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("kubectl apply failed without the CEL message %q: %v", msg, err)
	}
	if _, err := prefectServer(ns, "two-on-sqlite"); err == nil {
		t.Errorf("the rejected PrefectServer exists")
	}
}
