// Package opmetrics is the operator's own Prometheus metrics: one set of
// gauges per PrefectServer, labelled by its namespace and name, registered on
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
)

// registered are the gauges, by name, in the order gauge made them.
var registered []named

type named struct {
	name string
	vec  *prometheus.GaugeVec
}

// gauge makes a gauge vector and registers it on controller-runtime's registry.
func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	metrics.Registry.MustRegister(g)
	registered = append(registered, named{name, g})
	return g
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
