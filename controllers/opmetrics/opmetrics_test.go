package opmetrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// TestOperatorMetricsDocumented: docs/metrics.md lists every metric this
// package registers, and every prefectgo_operator_ metric it lists is one of
// them.
func TestOperatorMetricsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/metrics.md")
	require.NoError(t, err)
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`(prefectgo_operator_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		listed[m[1]] = true
	}
	for _, name := range Names() {
		require.True(t, listed[name], "docs/metrics.md does not list %s", name)
	}
	for name := range listed {
		require.True(t, slices.Contains(Names(), name), "docs/metrics.md lists %s, which nothing registers", name)
	}
}

// TestRecordAndForget: a server's gauges take what Record gives, the
// migration state one-hot, on controller-runtime's registry; Forget
// removes every series of that server and no other's.
func TestRecordAndForget(t *testing.T) {
	t.Parallel()
	t.Cleanup(func() { Forget("opmetrics-test", "one"); Forget("opmetrics-test", "two") })
	Record("opmetrics-test", "one", Server{Ready: true, DesiredReplicas: 2, ReadyReplicas: 1, Migration: MigrationFailed})
	Record("opmetrics-test", "two", Server{SchedulerLastSuccess: time.Unix(1_700_000_000, 0)})

	require.Equal(t, map[string]float64{
		"prefectgo_operator_server_ready":                            1,
		"prefectgo_operator_server_desired_replicas":                 2,
		"prefectgo_operator_server_ready_replicas":                   1,
		"prefectgo_operator_server_migration_state{state=on_start}":  0,
		"prefectgo_operator_server_migration_state{state=pending}":   0,
		"prefectgo_operator_server_migration_state{state=running}":   0,
		"prefectgo_operator_server_migration_state{state=succeeded}": 0,
		"prefectgo_operator_server_migration_state{state=failed}":    1,
	}, seriesOf(t, "opmetrics-test", "one"))
	require.Equal(t, 1.7e9, seriesOf(t, "opmetrics-test", "two")["prefectgo_operator_scheduler_last_success_timestamp_seconds"])

	// The CronJob gone, its series goes.
	Record("opmetrics-test", "two", Server{})
	require.NotContains(t, seriesOf(t, "opmetrics-test", "two"), "prefectgo_operator_scheduler_last_success_timestamp_seconds")

	Forget("opmetrics-test", "one")
	require.Empty(t, seriesOf(t, "opmetrics-test", "one"))
	require.Contains(t, seriesOf(t, "opmetrics-test", "two"), "prefectgo_operator_server_ready", "the other server's series stay")
}

// seriesOf gathers controller-runtime's registry, which the manager serves,
// for the series of one server, keyed by name and any label beyond
// namespace and name.
func seriesOf(t *testing.T, namespace, name string) map[string]float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key, ns, n := f.GetName(), "", ""
			var extra []string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "namespace":
					ns = l.GetValue()
				case "name":
					n = l.GetValue()
				default:
					extra = append(extra, l.GetName()+"="+l.GetValue())
				}
			}
			if ns != namespace || n != name {
				continue
			}
			if len(extra) > 0 {
				key += "{" + strings.Join(extra, ",") + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}
