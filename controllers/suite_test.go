package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// The envtest suite runs a real kube-apiserver and etcd (no controllers: no
// garbage collector, no Deployment or Job controller) with the CRD from
// config/crd/bases, and the reconcilers in a manager, wired exactly as
// cmd/manager wires them (the work plane's with a short resync). Every test
// works in a namespace of its own, so the tests run in parallel.

const (
	testImage = "ghcr.io/prefectgo/prefectgo:v0.1.0-test"
	// wait bounds every poll: generous, since the tests assert outcomes, never speed.
	wait = 30 * time.Second
	tick = 50 * time.Millisecond
)

// env is the shared control plane and manager, started on first use.
type env struct {
	// c talks to the API server directly, uncached, so a test sees what the
	// API server holds.
	c     client.Client
	cfg   *rest.Config
	calls *countingReconciler
	// The passes of the work-queue, deployment and automation reconcilers.
	queueCalls, deploymentCalls, automationCalls *countingReconciler
}

// apiTargets maps a PrefectServer's in-cluster API URL to the URL of the
// server process standing in for its pods.
var apiTargets sync.Map

// serveAt has the operator reach ps's API at url (a server process the test
// started, or a dead port) until the test ends.
func (b *testBundle) serveAt(t *testing.T, ps *v1alpha1.PrefectServer, url string) {
	t.Helper()
	key := builders.APIURL(ps)
	apiTargets.Store(key, url)
	t.Cleanup(func() { apiTargets.Delete(key) })
}

var (
	envOnce sync.Once
	envVal  *env
	envErr  error
	envStop func()
)

// TestMain stops the control plane after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if envStop != nil {
		envStop()
	}
	os.Exit(code)
}

// testEnv returns the running environment, starting it on first use. Without
// KUBEBUILDER_ASSETS the test fails (it is not skipped): the suite is part of
// `make test`, which builds the binaries and sets it.
func testEnv(t *testing.T) *env {
	t.Helper()
	envOnce.Do(func() { envVal, envStop, envErr = startEnv() })
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envVal
}

func startEnv() (*env, func(), error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, nil, errors.New("KUBEBUILDER_ASSETS is not set: the controller tests need a kube-apiserver and etcd. " +
			"Run `make test`, or `KUBEBUILDER_ASSETS=$(bash hack/envtest.sh) go test ./controllers/...`")
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()})))

	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := te.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("start envtest (KUBEBUILDER_ASSETS=%s): %w", assets, err)
	}
	stop := func() { _ = te.Stop() }

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		stop()
		return nil, nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		stop()
		return nil, nil, err
	}
	if err := gatewayv1.Install(scheme); err != nil {
		stop()
		return nil, nil, err
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		stop()
		return nil, nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	r := &PrefectServerReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder(FieldOwner),
		DefaultImage: testImage,
		// Short, so a test sees the Gateway API found soon after it is installed.
		MissingAPIRetry: time.Second,
		// envtest runs no pods: a test's PrefectServer reaches the server
		// process the test started for it (see serveAt).
		NewClient: func(url, auth string) *prefectapi.Client {
			if to, ok := apiTargets.Load(url); ok {
				url = to.(string)
			}
			return prefectapi.New(url, auth)
		},
	}
	calls := &countingReconciler{inner: r, calls: map[string]int{}}
	if err := r.setupWithManager(mgr, calls); err != nil {
		stop()
		return nil, nil, err
	}
	plane := WorkPlane{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(FieldOwner),
		// Short, so a test sees drift on the server corrected soon.
		Resync: time.Second,
	}
	if err := (&PrefectWorkPoolReconciler{WorkPlane: plane}).SetupWithManager(mgr); err != nil {
		stop()
		return nil, nil, err
	}
	queueCalls := &countingReconciler{inner: &PrefectWorkQueueReconciler{WorkPlane: plane}, calls: map[string]int{}}
	if err := (&PrefectWorkQueueReconciler{WorkPlane: plane}).setupWithManager(mgr, queueCalls); err != nil {
		stop()
		return nil, nil, err
	}
	deploymentCalls := &countingReconciler{inner: &PrefectDeploymentReconciler{WorkPlane: plane}, calls: map[string]int{}}
	if err := (&PrefectDeploymentReconciler{WorkPlane: plane}).setupWithManager(mgr, deploymentCalls); err != nil {
		stop()
		return nil, nil, err
	}
	automationCalls := &countingReconciler{inner: &PrefectAutomationReconciler{WorkPlane: plane}, calls: map[string]int{}}
	if err := (&PrefectAutomationReconciler{WorkPlane: plane}).setupWithManager(mgr, automationCalls); err != nil {
		stop()
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		cancel()
		stop()
		return nil, nil, err
	}
	e := &env{c: c, cfg: cfg, calls: calls, queueCalls: queueCalls, deploymentCalls: deploymentCalls, automationCalls: automationCalls}
	return e, func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
		stop()
	}, nil
}

// countingReconciler counts the passes per namespace, to show the reconciler
// is quiet at steady state.
type countingReconciler struct {
	inner reconcile.Reconciler
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	c.mu.Lock()
	c.calls[req.Namespace]++
	c.mu.Unlock()
	return c.inner.Reconcile(ctx, req)
}

func (c *countingReconciler) count(namespace string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[namespace]
}

// testBundle is what one test works with.
type testBundle struct {
	ctx context.Context
	c   client.Client
	ns  string
	env *env
}

// setup gives a test the environment and a fresh namespace.
func setup(t *testing.T) *testBundle {
	t.Helper()
	e := testEnv(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	require.NoError(t, e.c.Create(t.Context(), ns))
	return &testBundle{ctx: t.Context(), c: e.c, ns: ns.Name, env: e}
}

// testLogLevel is the manager's log level in tests: errors, or everything
// with PREFECTGO_TEST_LOG=debug.
func testLogLevel() slog.Level {
	if os.Getenv("PREFECTGO_TEST_LOG") == "debug" {
		return slog.Level(-10)
	}
	return slog.LevelError
}
