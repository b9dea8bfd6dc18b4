// Command manager is the prefectgo operator: a controller-runtime manager
// running the PrefectServer reconciler and the work plane's (PrefectWorkPool,
// PrefectWorkQueue, PrefectDeployment, PrefectAutomation).
//
// Flags:
//
//	--metrics-bind-address       metrics endpoint (default ":8080"; "0" disables it)
//	--health-probe-bind-address  /healthz and /readyz (default ":8081")
//	--leader-elect               elect a leader, for more than one manager replica
//	--leader-election-namespace  where the Lease lives (default: the pod's own
//	                             namespace; needed outside a cluster)
//	--namespace                  watch only this namespace (default: all)
//	--log-level                  debug, info, warn or error (default info)
//	--kubeconfig                 outside a cluster: the kubeconfig to use
//
// Environment:
//
//	PREFECT_SERVER_IMAGE  the image server pods run when a PrefectServer sets
//	                      no spec.image: the operator's own image, which
//	                      bundles the server (required)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers"
)

// leaderElectionID names the Lease the manager replicas compete for.
const leaderElectionID = "prefectgo-operator.prefectgo.dev"

// options is the manager's whole configuration, read once at start from
// flags and environment.
type options struct {
	MetricsAddr string
	ProbeAddr   string
	LeaderElect bool
	LeaseNS     string
	Namespace   string
	LogLevel    slog.Level
	ServerImage string
}

// parseOptions reads flags from args and the environment through getenv, and
// validates the result.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `address of the metrics endpoint; "0" disables it`)
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader, so only one manager replica reconciles")
	fs.StringVar(&o.LeaseNS, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's own namespace)")
	fs.StringVar(&o.Namespace, "namespace", "", "watch only this namespace (default: all namespaces)")
	fs.TextVar(&o.LogLevel, "log-level", slog.LevelInfo, "least severe level logged: debug, info, warn or error")
	config.RegisterFlags(fs) // --kubeconfig
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.ServerImage = getenv("PREFECT_SERVER_IMAGE")
	if o.ServerImage == "" {
		return options{}, errors.New("PREFECT_SERVER_IMAGE is not set: it names the image server pods run when a PrefectServer sets no spec.image")
	}
	return o, nil
}

func main() {
	o, err := parseOptions(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	if err := run(o, logger); err != nil {
		logger.Error("manager stopped", "error", err)
		os.Exit(1)
	}
}

// run starts the manager and blocks until SIGTERM or SIGINT.
func run(o options, logger *slog.Logger) error {
	log := logr.FromSlogHandler(logger.Handler())
	ctrl.SetLogger(log)
	klog.SetLogger(log)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := gatewayv1.Install(scheme); err != nil {
		return err
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		return err
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes client config: %w", err)
	}
	var cacheOpts cache.Options
	if o.Namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{o.Namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       o.LeaseNS,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	r := &controllers.PrefectServerReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder(controllers.FieldOwner),
		DefaultImage: o.ServerImage,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the PrefectServer controller: %w", err)
	}
	// The work plane: resources kept on Prefect servers through their API.
	plane := controllers.WorkPlane{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(controllers.FieldOwner),
	}
	if err := (&controllers.PrefectWorkPoolReconciler{WorkPlane: plane}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the PrefectWorkPool controller: %w", err)
	}
	if err := (&controllers.PrefectWorkQueueReconciler{WorkPlane: plane}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the PrefectWorkQueue controller: %w", err)
	}
	if err := (&controllers.PrefectDeploymentReconciler{WorkPlane: plane}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the PrefectDeployment controller: %w", err)
	}
	if err := (&controllers.PrefectAutomationReconciler{WorkPlane: plane}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the PrefectAutomation controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	logger.Info("starting manager", "namespace", o.Namespace, "server_image", o.ServerImage,
		"leader_elect", o.LeaderElect, "metrics_bind_address", o.MetricsAddr)
	return mgr.Start(ctrl.SetupSignalHandler())
}
