package canary

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The canary's metrics, on controller-runtime's registry: the manager's
// metrics endpoint serves them beside its own.
var (
	success = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "prefectgo_operator_canary_success",
		Help: "1 when the last canary of a PrefectServer passed, 0 when it failed.",
	}, []string{"namespace", "name"})
	duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "prefectgo_operator_canary_duration_seconds",
		Help:    "How long a PrefectServer's canary took, passed or failed.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"namespace", "name"})
)

func init() { metrics.Registry.MustRegister(success, duration) }

// Record reports a result of the PrefectServer namespace/name.
func Record(namespace, name string, r Result) {
	v := 0.0
	if r.Passed() {
		v = 1
	}
	success.WithLabelValues(namespace, name).Set(v)
	duration.WithLabelValues(namespace, name).Observe(r.Duration.Seconds())
}

// Forget drops the series of a PrefectServer whose canary is off or that is
// gone, so a dashboard does not show its last result forever.
func Forget(namespace, name string) {
	success.DeleteLabelValues(namespace, name)
	duration.DeleteLabelValues(namespace, name)
}
