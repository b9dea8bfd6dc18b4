// Package opmetrics is the operator's own Prometheus metrics: one set of
// series per PrefectServer, labelled by its namespace and name, registered on
// controller-runtime's registry, so the manager serves them beside its own
// at /metrics. docs/metrics.md lists them. The reconciler sets them after
// each pass and deletes a server's series when the resource goes.
//
// Scrape the operator with honorLabels: true (the chart's ServiceMonitor
// does): otherwise the operator pod's own namespace label replaces a
// series' namespace, which becomes exported_namespace.
package opmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Migration states, the state label of prefectgo_operator_server_migration_state.
const (
	// MigrationOnStart: SQLite (and ephemeral) storage, which the server
	// migrates itself when it starts.
	MigrationOnStart = "on_start"
	MigrationPending = "pending"
	// MigrationRunning, MigrationSucceeded, MigrationFailed: the PostgreSQL
	// migration Job of the current configuration.
	MigrationRunning   = "running"
	MigrationSucceeded = "succeeded"
	MigrationFailed    = "failed"
)

// MigrationStates are every value of the state label, each a series of its own.
var MigrationStates = []string{MigrationOnStart, MigrationPending, MigrationRunning, MigrationSucceeded, MigrationFailed}

var (
	serverLabels = []string{"namespace", "name"}

	ready = gauge("prefectgo_operator_server_ready",
		"1 when the PrefectServer's Ready condition is True (a replica answers), else 0.", serverLabels...)
	desiredReplicas = gauge("prefectgo_operator_server_desired_replicas",
		"Server pods the PrefectServer asks for (0 while suspended).", serverLabels...)
	readyReplicas = gauge("prefectgo_operator_server_ready_replicas",
		"Server pods ready to serve.", serverLabels...)
	migration = gauge("prefectgo_operator_server_migration_state",
		"1 for the database migration's current state (on_start, pending, running, succeeded, failed), 0 for the others.",
		append(serverLabels, "state")...)
	schedulerLastSuccess = gauge("prefectgo_operator_scheduler_last_success_timestamp_seconds",
		"When the scheduling CronJob last succeeded (Unix time); before its first success, when it was created. "+
			"Absent without the CronJob.", serverLabels...)
	canarySuccess = gauge("prefectgo_operator_canary_success",
		"1 when the PrefectServer's last canary passed, 0 when it failed.", serverLabels...)
	canaryDuration = histogram("prefectgo_operator_canary_duration_seconds",
		"How long a PrefectServer's canary took, passed or failed.",
		[]float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, serverLabels...)
)

// registered are the metric vectors, by name, in the order they were made.
var registered []named

type named struct {
	name string
	vec  interface {
		DeletePartialMatch(prometheus.Labels) int
	}
}

// gauge makes a gauge vector and registers it on controller-runtime's registry.
func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	metrics.Registry.MustRegister(g)
	registered = append(registered, named{name, g})
	return g
}

// histogram makes a histogram vector and registers it as gauge does.
func histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	metrics.Registry.MustRegister(h)
	registered = append(registered, named{name, h})
	return h
}

// Server is what the operator last observed of one PrefectServer.
type Server struct {
	Ready           bool
	DesiredReplicas int32
	ReadyReplicas   int32
	// Migration is one of MigrationStates; empty leaves every state at 0.
	Migration string
	// SchedulerLastSuccess is the scheduling CronJob's last success (or
	// creation); zero when there is no such CronJob.
	SchedulerLastSuccess time.Time
}

// Record sets the gauges of the PrefectServer namespace/name.
func Record(namespace, name string, s Server) {
	ready.WithLabelValues(namespace, name).Set(boolValue(s.Ready))
	desiredReplicas.WithLabelValues(namespace, name).Set(float64(s.DesiredReplicas))
	readyReplicas.WithLabelValues(namespace, name).Set(float64(s.ReadyReplicas))
	for _, state := range MigrationStates {
		migration.WithLabelValues(namespace, name, state).Set(boolValue(state == s.Migration))
	}
	if s.SchedulerLastSuccess.IsZero() {
		schedulerLastSuccess.DeleteLabelValues(namespace, name)
	} else {
		schedulerLastSuccess.WithLabelValues(namespace, name).Set(float64(s.SchedulerLastSuccess.Unix()))
	}
}

// RecordCanary reports a canary of the PrefectServer namespace/name.
func RecordCanary(namespace, name string, passed bool, took time.Duration) {
	canarySuccess.WithLabelValues(namespace, name).Set(boolValue(passed))
	canaryDuration.WithLabelValues(namespace, name).Observe(took.Seconds())
}

// ForgetCanary drops the canary's series of a PrefectServer whose canary is
// off, so a dashboard does not show its last result forever.
func ForgetCanary(namespace, name string) {
	canarySuccess.DeleteLabelValues(namespace, name)
	canaryDuration.DeleteLabelValues(namespace, name)
}

// Forget deletes every series of the PrefectServer namespace/name.
func Forget(namespace, name string) {
	for _, g := range registered {
		g.vec.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
	}
}

// Names are the metric names this package registers.
func Names() []string {
	names := make([]string, len(registered))
	for i, g := range registered {
		names[i] = g.name
	}
	return names
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
