//go:build helm

package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestManagerRunsWithChartRBAC runs the real manager binary as the chart's ServiceAccount
// (envtest authorizes with RBAC), with the arguments and environment of the Deployment the
// release installed: first watching every namespace through the ClusterRole, then one
// namespace through a Role there and without leader election. Each time a PrefectServer
// gets its Deployment and a status, and the manager logs nothing forbidden, so the chart's
// RBAC is enough for what the reconciler does.
func TestManagerRunsWithChartRBAC(t *testing.T) {
	t.Parallel()
	e := ownEnv(t)
	manager := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", manager, "./cmd/manager")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	for _, tc := range []struct {
		name, release, namespace, watch string
		set                             []string
	}{
		{name: "ClusterWide", release: "cluster", namespace: "ops-cluster", watch: "team-a"},
		// The CRD belongs to the first release; this one leaves it alone.
		{name: "OneNamespace", release: "scoped", namespace: "ops-scoped", watch: "team-b",
			set: []string{"watchNamespace=team-b", "leaderElection.enabled=false", "crds.install=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			ensureNamespace(t, e.client, tc.watch)
			args := []string{"install", tc.release, chartDir, "--namespace", tc.namespace, "--create-namespace", "--kubeconfig", e.kubeconfig}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := helm(t, args...)
			require.NoError(t, err)
			manifest, err := helm(t, "get", "manifest", tc.release, "--namespace", tc.namespace, "--kubeconfig", e.kubeconfig)
			require.NoError(t, err)
			var dep appsv1.Deployment
			for _, u := range documents(t, manifest) {
				if u.GetKind() == "Deployment" {
					b, err := u.MarshalJSON()
					require.NoError(t, err)
					require.NoError(t, sigsyaml.Unmarshal(b, &dep))
				}
			}
			pod := dep.Spec.Template.Spec
			require.Len(t, pod.Containers, 1)
			sa := pod.ServiceAccountName
			kubeconfig, err := e.kubeconfigFor(envtest.User{
				Name:   "system:serviceaccount:" + tc.namespace + ":" + sa,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + tc.namespace, "system:authenticated"},
			})
			require.NoError(t, err)

			// The pod's arguments, but no ports to bind, and what a pod has implicitly:
			// credentials and its namespace for the Lease.
			var margs []string
			for _, a := range pod.Containers[0].Args {
				if !strings.HasPrefix(a, "--metrics-bind-address=") && !strings.HasPrefix(a, "--health-probe-bind-address=") {
					margs = append(margs, a)
				}
			}
			margs = append(margs, "--metrics-bind-address=0", "--health-probe-bind-address=0",
				"--kubeconfig="+kubeconfig, "--leader-election-namespace="+tc.namespace)
			logPath := filepath.Join(t.TempDir(), "manager.log")
			logFile, err := os.Create(logPath)
			require.NoError(t, err)
			defer logFile.Close()
			cmd := exec.Command(manager, margs...)
			cmd.Stdout, cmd.Stderr = logFile, logFile
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for _, v := range pod.Containers[0].Env {
				cmd.Env = append(cmd.Env, v.Name+"="+v.Value)
			}
			require.NoError(t, cmd.Start())
			stopped := false
			stop := func() {
				if !stopped {
					stopped = true
					_ = cmd.Process.Signal(syscall.SIGTERM)
					done := make(chan struct{})
					go func() { _ = cmd.Wait(); close(done) }()
					select {
					case <-done:
					case <-time.After(15 * time.Second):
						_ = cmd.Process.Kill()
						<-done
					}
				}
			}
			defer stop()

			ps := &unstructured.Unstructured{}
			ps.SetAPIVersion("prefectgo.dev/v1alpha1")
			ps.SetKind("PrefectServer")
			ps.SetNamespace(tc.watch)
			ps.SetName("prefect")
			require.Eventually(t, func() bool { return e.client.Create(ctx, ps.DeepCopy()) == nil }, 30*time.Second, 200*time.Millisecond)

			key := client.ObjectKey{Namespace: tc.watch, Name: "prefect"}
			reconciled := func() bool {
				if err := e.client.Get(ctx, key, &appsv1.Deployment{}); err != nil {
					return false
				}
				got := ps.DeepCopy()
				if err := e.client.Get(ctx, key, got); err != nil {
					return false
				}
				conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
				return len(conds) > 0
			}
			readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
			forbidden := func() bool { return strings.Contains(strings.ToLower(readLog()), "forbidden") }
			waitFor(func() bool { return forbidden() || reconciled() }, time.Minute)
			stop()
			require.False(t, forbidden(), "the chart's RBAC lacks a permission; the manager's log:\n%s", tail(readLog(), 4000))
			require.True(t, reconciled(), "the manager did not reconcile the PrefectServer; its log:\n%s", tail(readLog(), 4000))
		})
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(cond func() bool, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
