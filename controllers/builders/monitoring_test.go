package builders

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/opmetrics"
)

func withMonitoring(m *v1alpha1.MonitoringSpec) func(*v1alpha1.PrefectServerSpec) {
	return func(s *v1alpha1.PrefectServerSpec) { s.Monitoring = m }
}

func secretKey(name, key string) corev1.SecretKeySelector {
	return corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
}

// TestServiceMonitorRenders renders a ServiceMonitor in full: the server's
// Service by its selector labels, its port by name, the metrics path, the
// spec's interval, labels and credentials.
func TestServiceMonitorRenders(t *testing.T) {
	t.Parallel()
	ps := newServer(t, withMonitoring(&v1alpha1.MonitoringSpec{
		Enabled: true, Interval: "15s",
		Labels:    map[string]string{"release": "kps", "app.kubernetes.io/name": "not-ours"},
		BasicAuth: &v1alpha1.MonitoringBasicAuth{Username: secretKey("scrape", "user"), Password: secretKey("scrape", "password")},
	}))
	require.Nil(t, PodMonitor(ps))
	got, err := yaml.Marshal(ServiceMonitor(ps))
	require.NoError(t, err)
	require.YAMLEq(t, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: prefect
  namespace: ns
  labels:
    release: kps
    app.kubernetes.io/component: server
    app.kubernetes.io/instance: prefect
    app.kubernetes.io/managed-by: prefectgo-operator
    app.kubernetes.io/name: prefect-server
    app.kubernetes.io/part-of: prefect
spec:
  selector:
    matchLabels:
      app.kubernetes.io/component: server
      app.kubernetes.io/instance: prefect
      app.kubernetes.io/name: prefect-server
  namespaceSelector:
    matchNames: [ns]
  endpoints:
  - port: http
    path: /api/metrics
    interval: 15s
    honorLabels: true
    relabelings:
    - action: replace
      targetLabel: job
      replacement: prefect
    basicAuth:
      username: {name: scrape, key: user}
      password: {name: scrape, key: password}
`, string(got))
	require.Equal(t, Service(ps).Spec.Ports[0].Name, ServiceMonitor(ps).Spec.Endpoints[0].Port, "the Service's port")
	require.Equal(t, Service(ps).Spec.Selector, ServiceMonitor(ps).Spec.Selector.MatchLabels, "Service and pods share the selector")
}

// TestPodMonitorRenders: podMonitor makes a PodMonitor on the server pods'
// API port, and no ServiceMonitor.
func TestPodMonitorRenders(t *testing.T) {
	t.Parallel()
	ps := newServer(t, withMonitoring(&v1alpha1.MonitoringSpec{Enabled: true, PodMonitor: true}))
	require.Nil(t, ServiceMonitor(ps))
	got, err := yaml.Marshal(PodMonitor(ps))
	require.NoError(t, err)
	require.YAMLEq(t, `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: prefect
  namespace: ns
  labels:
    app.kubernetes.io/component: server
    app.kubernetes.io/instance: prefect
    app.kubernetes.io/managed-by: prefectgo-operator
    app.kubernetes.io/name: prefect-server
    app.kubernetes.io/part-of: prefect
spec:
  selector:
    matchLabels:
      app.kubernetes.io/component: server
      app.kubernetes.io/instance: prefect
      app.kubernetes.io/name: prefect-server
  namespaceSelector:
    matchNames: [ns]
  podMetricsEndpoints:
  - port: http
    path: /api/metrics
    honorLabels: true
    relabelings:
    - action: replace
      targetLabel: job
      replacement: prefect
`, string(got))
	dep := Deployment(ps, Inputs{DefaultImage: "img"})
	require.Equal(t, dep.Spec.Template.Spec.Containers[0].Ports[0].Name, *PodMonitor(ps).Spec.PodMetricsEndpoints[0].Port)
	require.Subset(t, dep.Spec.Template.Labels, PodMonitor(ps).Spec.Selector.MatchLabels)
}

// TestMonitoringOff: no monitoring, or enabled false, makes nothing and
// leaves the metrics to metricsEnabled; alerts.enabled false keeps the
// scrape without the rule.
func TestMonitoringOff(t *testing.T) {
	t.Parallel()
	for _, m := range []*v1alpha1.MonitoringSpec{nil, {Enabled: false, PodMonitor: true}} {
		ps := newServer(t, withMonitoring(m))
		require.Nil(t, ServiceMonitor(ps))
		require.Nil(t, PodMonitor(ps))
		require.Nil(t, PrometheusRule(ps))
		require.Equal(t, "false", envOf(ServerEnv(ps), envName("metrics_enabled")))
	}
	ps := newServer(t, withMonitoring(&v1alpha1.MonitoringSpec{Enabled: true, Alerts: v1alpha1.MonitoringAlerts{Enabled: new(false)}}))
	require.NotNil(t, ServiceMonitor(ps))
	require.Nil(t, PrometheusRule(ps))
	require.NotNil(t, PrometheusRule(newServer(t, withMonitoring(&v1alpha1.MonitoringSpec{Enabled: true}))), "alerts are on by default")
}

// TestMonitoringTurnsMetricsOn: the server serves what is scraped, whatever
// metricsEnabled says, and the pods roll for it.
func TestMonitoringTurnsMetricsOn(t *testing.T) {
	t.Parallel()
	off := newServer(t, func(s *v1alpha1.PrefectServerSpec) { s.MetricsEnabled = new(false) })
	on := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
		s.MetricsEnabled = new(false)
		s.Monitoring = &v1alpha1.MonitoringSpec{Enabled: true}
	})
	env := ServerEnv(on)
	require.Equal(t, "true", envOf(env, envName("metrics_enabled")))
	require.Equal(t, 1, countEnv(env, envName("metrics_enabled")), "one variable, not the spec's as well")
	require.NotEqual(t, ConfigHash(off, Inputs{}), ConfigHash(on, Inputs{}))
}

// alertVariants are specs whose rules differ: the scheduler alert follows
// where scheduling runs, and is left out where it does not.
func alertVariants(t *testing.T) map[string]*v1alpha1.PrefectServer {
	t.Helper()
	m := func(s *v1alpha1.PrefectServerSpec) { s.Monitoring = &v1alpha1.MonitoringSpec{Enabled: true} }
	with := func(f func(*v1alpha1.PrefectServerSpec)) *v1alpha1.PrefectServer {
		return newServer(t, func(s *v1alpha1.PrefectServerSpec) { m(s); f(s) })
	}
	return map[string]*v1alpha1.PrefectServer{
		"sqlite": with(func(*v1alpha1.PrefectServerSpec) {}),
		"ephemeral": with(func(s *v1alpha1.PrefectServerSpec) {
			s.Storage = v1alpha1.Storage{Ephemeral: &v1alpha1.EphemeralStorage{}}
		}),
		"postgres": with(func(s *v1alpha1.PrefectServerSpec) {
			s.Storage = v1alpha1.Storage{Postgres: &v1alpha1.PostgresStorage{Host: "db", User: "u"}}
		}),
		"scheduling suspended": with(func(s *v1alpha1.PrefectServerSpec) { s.Scheduling.Suspend = true }),
		"suspended":            with(func(s *v1alpha1.PrefectServerSpec) { s.Suspend = new(true) }),
		"ephemeral without scheduler": with(func(s *v1alpha1.PrefectServerSpec) {
			s.Storage = v1alpha1.Storage{Ephemeral: &v1alpha1.EphemeralStorage{}}
			s.Services.Scheduler.Enabled = new(false)
		}),
	}
}

// TestSchedulerAlertFollowsScheduling: the CronJob's last success where a
// CronJob schedules, the server's own scheduler pass with ephemeral storage,
// no alert where nothing should be scheduling.
func TestSchedulerAlertFollowsScheduling(t *testing.T) {
	t.Parallel()
	v := alertVariants(t)
	expr := func(name string) string {
		i := slices.IndexFunc(Alerts(v[name]), func(a Alert) bool { return a.Name == "PrefectSchedulerNotRunning" })
		if i < 0 {
			return ""
		}
		return Alerts(v[name])[i].Expr
	}
	require.Contains(t, expr("sqlite"), "prefectgo_operator_scheduler_last_success_timestamp_seconds")
	require.Contains(t, expr("postgres"), "prefectgo_operator_scheduler_last_success_timestamp_seconds")
	require.Contains(t, expr("ephemeral"), `prefect_service_last_success_timestamp_seconds{namespace="ns", job="prefect", service="scheduler"}`)
	require.Empty(t, expr("scheduling suspended"))
	require.Empty(t, expr("suspended"))
	require.Empty(t, expr("ephemeral without scheduler"))
}

// TestAlertThresholds: the spec's thresholds reach the expressions, in
// seconds, and the runbook base URL the annotations.
func TestAlertThresholds(t *testing.T) {
	t.Parallel()
	rule := func(a v1alpha1.MonitoringAlerts, storage v1alpha1.Storage) map[string]string {
		ps := newServer(t, func(s *v1alpha1.PrefectServerSpec) {
			s.Monitoring = &v1alpha1.MonitoringSpec{Enabled: true, Alerts: a}
			s.Storage = storage
		})
		out := map[string]string{}
		for _, r := range PrometheusRule(ps).Spec.Groups[0].Rules {
			out[r.Alert] = r.Expr.StrVal
			out[r.Alert+"/runbook"] = r.Annotations["runbook_url"]
		}
		return out
	}
	def := rule(v1alpha1.MonitoringAlerts{}, v1alpha1.Storage{})
	require.True(t, strings.HasSuffix(def["PrefectRunsLate"], "> 600"), def["PrefectRunsLate"])
	require.True(t, strings.HasSuffix(def["PrefectSchedulerNotRunning"], "> 600"), def["PrefectSchedulerNotRunning"])
	require.Equal(t, DefaultRunbookBaseURL+"prefect-runs-late.md", def["PrefectRunsLate/runbook"])

	set := v1alpha1.MonitoringAlerts{LateRunsAfter: "1h30m", SchedulerStaleAfter: "20m", RunbookBaseURL: "https://wiki.example/runbooks/"}
	for _, storage := range []v1alpha1.Storage{{}, {Ephemeral: &v1alpha1.EphemeralStorage{}}} {
		got := rule(set, storage)
		require.True(t, strings.HasSuffix(got["PrefectRunsLate"], "> 5400"), got["PrefectRunsLate"])
		require.True(t, strings.HasSuffix(got["PrefectSchedulerNotRunning"], "> 1200"), got["PrefectSchedulerNotRunning"])
		require.Equal(t, "https://wiki.example/runbooks/prefect-runs-late.md", got["PrefectRunsLate/runbook"])
	}
}

// TestAlertsUseMetricsThatExist parses every alert's expression, as
// Prometheus does, and checks each metric it reads is one the server
// exports (docs/metrics.md, which the server's own test keeps complete) or
// the operator's (opmetrics, whose test keeps docs/metrics.md complete too):
// an alert on a metric nobody exports would never fire. Every selector is
// also this server's alone: by namespace, and by job or name.
func TestAlertsUseMetricsThatExist(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "metrics.md"))
	require.NoError(t, err)
	documented := func(name string) bool {
		return strings.Contains(string(doc), "`"+name+"`") || slices.Contains(opmetrics.Names(), name)
	}
	seen := map[string]bool{}
	for variant, ps := range alertVariants(t) {
		for _, a := range Alerts(ps) {
			expr, err := parser.ParseExpr(a.Expr)
			require.NoError(t, err, "%s (%s): %s", a.Name, variant, a.Expr)
			var selectors int
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				vs, ok := node.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				selectors++
				seen[vs.Name] = true
				require.True(t, documented(vs.Name), "%s reads %s, which neither docs/metrics.md nor opmetrics has", a.Name, vs.Name)
				require.True(t, matches(vs.LabelMatchers, "namespace", "ns"), "%s: %s is not limited to the namespace", a.Name, vs)
				require.True(t, matches(vs.LabelMatchers, "job", "prefect") || matches(vs.LabelMatchers, "name", "prefect"),
					"%s: %s is not limited to this server", a.Name, vs)
				return nil
			})
			require.Positive(t, selectors, "%s reads no metric", a.Name)
			requireTemplates(t, a)
		}
	}
	// The test saw both kinds: the server's and the operator's.
	require.True(t, seen["prefect_event_persister_backlog"])
	require.True(t, seen["prefectgo_operator_server_ready"])
}

func matches(ms []*labels.Matcher, name, value string) bool {
	return slices.ContainsFunc(ms, func(m *labels.Matcher) bool {
		return m.Name == name && m.Type == labels.MatchEqual && m.Value == value
	})
}

// requireTemplates executes an alert's annotations as Prometheus does: Go
// templates with $labels and $value defined and its humanize functions.
func requireTemplates(t *testing.T, a Alert) {
	t.Helper()
	funcs := template.FuncMap{"humanizeDuration": func(v any) string { return "" }}
	for _, text := range []string{a.Summary, a.Description} {
		tmpl, err := template.New(a.Name).Funcs(funcs).Option("missingkey=zero").
			Parse("{{$labels := .Labels}}{{$value := .Value}}" + text)
		require.NoError(t, err, "%s: %q", a.Name, text)
		require.NoError(t, tmpl.Execute(io.Discard, struct {
			Labels map[string]string
			Value  float64
		}{map[string]string{}, 1}), "%s: %q", a.Name, text)
	}
}

// TestEveryAlertHasARunbook: each alert's runbook_url names its page in
// docs/runbooks, and the page says what the alert means, what to check and
// what to do; a page no alert names is stale.
func TestEveryAlertHasARunbook(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "docs", "runbooks")
	named := map[string]bool{}
	for _, ps := range alertVariants(t) {
		for _, r := range PrometheusRule(ps).Spec.Groups[0].Rules {
			url := r.Annotations["runbook_url"]
			page, ok := strings.CutPrefix(url, DefaultRunbookBaseURL)
			require.True(t, ok, "%s: runbook_url %q is not under %s", r.Alert, url, DefaultRunbookBaseURL)
			require.Equal(t, RunbookPage(r.Alert), page)
			named[page] = true
			text, err := os.ReadFile(filepath.Join(dir, page))
			require.NoError(t, err, "%s has no runbook page", r.Alert)
			require.True(t, strings.HasPrefix(string(text), "# "+r.Alert+"\n"), "%s: the page's title is not the alert's name", page)
			for _, heading := range []string{"## What it means", "## What to check", "## What to do"} {
				require.Contains(t, string(text), "\n"+heading+"\n", "%s lacks %q", page, heading)
			}
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			require.NotEmpty(t, r.Annotations["description"], r.Alert)
			require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], r.Alert)
		}
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.md"))
	require.NoError(t, err)
	for _, p := range pages {
		if base := filepath.Base(p); base != "README.md" {
			require.True(t, named[base], "docs/runbooks/%s belongs to no alert", base)
		}
	}
}

// envOf is the value of the variable name in env.
func envOf(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func countEnv(env []corev1.EnvVar, name string) int {
	return len(slices.DeleteFunc(slices.Clone(env), func(e corev1.EnvVar) bool { return e.Name != name }))
}
