package builders

import (
	"fmt"
	"maps"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
)

// MetricsPath is where the server serves its Prometheus metrics.
const MetricsPath = APIBasePath + "/metrics"

// DefaultRunbookBaseURL is where the runbook pages live unless
// spec.monitoring.alerts.runbookBaseURL says otherwise: docs/runbooks of
// this project's repository.
const DefaultRunbookBaseURL = "https://github.com/prefectgo/prefectgo/blob/main/docs/runbooks/"

// Defaults of spec.monitoring.alerts, as the CRD fills them in.
const (
	defaultLateRunsAfter       = "10m"
	defaultSchedulerStaleAfter = "10m"
)

// monitoringSpec is spec.monitoring when it is enabled, else nil.
func monitoringSpec(ps *v1alpha1.PrefectServer) *v1alpha1.MonitoringSpec {
	if m := ps.Spec.Monitoring; m != nil && m.Enabled {
		return m
	}
	return nil
}

// MonitoringEnabled says spec.monitoring asks for monitoring, which also
// turns the server's metrics on.
func MonitoringEnabled(ps *v1alpha1.PrefectServer) bool { return monitoringSpec(ps) != nil }

// AlertsEnabled says spec.monitoring asks for the PrometheusRule.
func AlertsEnabled(ps *v1alpha1.PrefectServer) bool {
	m := monitoringSpec(ps)
	return m != nil && orDefault(m.Alerts.Enabled, true)
}

// MonitorName names the ServiceMonitor or PodMonitor.
func MonitorName(ps *v1alpha1.PrefectServer) string { return ps.Name }

// PrometheusRuleName names the PrometheusRule.
func PrometheusRuleName(ps *v1alpha1.PrefectServer) string { return ps.Name }

// ServiceMonitor scrapes the server's Service at MetricsPath; nil unless
// monitoring is enabled without podMonitor.
func ServiceMonitor(ps *v1alpha1.PrefectServer) *monitoringv1.ServiceMonitor {
	m := monitoringSpec(ps)
	if m == nil || m.PodMonitor {
		return nil
	}
	ep := monitoringv1.Endpoint{
		Port:           PortName,
		Path:           MetricsPath,
		Interval:       monitoringv1.Duration(m.Interval),
		HonorLabels:    true,
		RelabelConfigs: scrapeRelabelings(ps),
	}
	ep.BasicAuth = scrapeBasicAuth(m)
	return &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.ServiceMonitorsKind},
		ObjectMeta: metav1.ObjectMeta{Name: MonitorName(ps), Namespace: ps.Namespace, Labels: monitoringLabels(ps, m)},
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector:          metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
			NamespaceSelector: monitoringv1.NamespaceSelector{MatchNames: []string{ps.Namespace}},
			Endpoints:         []monitoringv1.Endpoint{ep},
		},
	}
}

// PodMonitor scrapes each server pod at MetricsPath; nil unless monitoring
// is enabled with podMonitor.
func PodMonitor(ps *v1alpha1.PrefectServer) *monitoringv1.PodMonitor {
	m := monitoringSpec(ps)
	if m == nil || !m.PodMonitor {
		return nil
	}
	ep := monitoringv1.PodMetricsEndpoint{
		Port:           new(PortName),
		Path:           MetricsPath,
		Interval:       monitoringv1.Duration(m.Interval),
		HonorLabels:    true,
		RelabelConfigs: scrapeRelabelings(ps),
	}
	ep.BasicAuth = scrapeBasicAuth(m)
	return &monitoringv1.PodMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PodMonitorsKind},
		ObjectMeta: metav1.ObjectMeta{Name: MonitorName(ps), Namespace: ps.Namespace, Labels: monitoringLabels(ps, m)},
		Spec: monitoringv1.PodMonitorSpec{
			Selector:            metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
			NamespaceSelector:   monitoringv1.NamespaceSelector{MatchNames: []string{ps.Namespace}},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{ep},
		},
	}
}

// scrapeRelabelings sets the job label to the PrefectServer's name, under a
// ServiceMonitor (whose default it is already) and a PodMonitor (whose
// default is <namespace>/<monitor>) alike, so the alerts select a server's
// series by namespace and job whichever scrapes it.
//
// Both endpoints also honour the scraped labels: the server's
// prefect_service_* metrics carry a service label (the background service),
// which a ServiceMonitor's target label of the same name (the Kubernetes
// Service) would otherwise rename to exported_service.
func scrapeRelabelings(ps *v1alpha1.PrefectServer) []monitoringv1.RelabelConfig {
	return []monitoringv1.RelabelConfig{{Action: "replace", TargetLabel: "job", Replacement: new(ps.Name)}}
}

func scrapeBasicAuth(m *v1alpha1.MonitoringSpec) *monitoringv1.BasicAuth {
	if m.BasicAuth == nil {
		return nil
	}
	return &monitoringv1.BasicAuth{Username: *m.BasicAuth.Username.DeepCopy(), Password: *m.BasicAuth.Password.DeepCopy()}
}

// monitoringLabels are spec.monitoring.labels (what the Prometheus selects)
// with the operator's own labels, which win.
func monitoringLabels(ps *v1alpha1.PrefectServer, m *v1alpha1.MonitoringSpec) map[string]string {
	labels := maps.Clone(m.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, Labels(ps))
	return labels
}

// PrometheusRule holds the server's alerts (Alerts); nil unless monitoring
// and its alerts are enabled.
func PrometheusRule(ps *v1alpha1.PrefectServer) *monitoringv1.PrometheusRule {
	if !AlertsEnabled(ps) {
		return nil
	}
	m := monitoringSpec(ps)
	base := cmpOr(m.Alerts.RunbookBaseURL, DefaultRunbookBaseURL)
	var rules []monitoringv1.Rule
	for _, a := range Alerts(ps) {
		r := monitoringv1.Rule{
			Alert:  a.Name,
			Expr:   intstr.FromString(a.Expr),
			Labels: map[string]string{"severity": a.Severity},
			Annotations: map[string]string{
				"summary":     a.Summary,
				"description": a.Description,
				"runbook_url": base + RunbookPage(a.Name),
			},
		}
		if a.For != "" {
			r.For = new(monitoringv1.Duration(a.For))
		}
		rules = append(rules, r)
	}
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: metav1.ObjectMeta{Name: PrometheusRuleName(ps), Namespace: ps.Namespace, Labels: monitoringLabels(ps, m)},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{
			Name:  "prefectgo." + ps.Namespace + "." + ps.Name,
			Rules: rules,
		}}},
	}
}

// Alert is one alert of a server's PrometheusRule.
type Alert struct {
	Name     string
	Severity string // critical or warning
	Expr     string
	For      string // a Prometheus duration; empty: fire at once
	Summary  string
	// Description may use Prometheus's alert templates ({{ $value }}).
	Description string
}

// RunbookPage is an alert's page in docs/runbooks: PrefectRunsLate's is
// prefect-runs-late.md.
func RunbookPage(alert string) string {
	var b strings.Builder
	for i, r := range alert {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String() + ".md"
}

// Alerts are the alerts the PrometheusRule of ps holds, whether or not it
// is enabled. The server's series are selected by namespace and job (the
// scrape relabels job to the server's name); the operator's, by namespace and
// name, which its own scrape must keep (honorLabels). An alert that cannot
// apply to the spec is left out: no scheduler alert while scheduling is
// suspended or off.
func Alerts(ps *v1alpha1.PrefectServer) []Alert {
	who := ps.Namespace + "/" + ps.Name
	server := fmt.Sprintf(`namespace=%q, job=%q`, ps.Namespace, ps.Name)
	operator := fmt.Sprintf(`namespace=%q, name=%q`, ps.Namespace, ps.Name)
	var m v1alpha1.MonitoringAlerts
	if ms := ps.Spec.Monitoring; ms != nil {
		m = ms.Alerts
	}
	lateText := cmpOr(string(m.LateRunsAfter), defaultLateRunsAfter)

	out := []Alert{{
		Name:     "PrefectServerDown",
		Severity: "critical",
		Expr: fmt.Sprintf(`prefectgo_operator_server_ready{%s} == 0 and on (namespace, name) prefectgo_operator_server_desired_replicas{%s} > 0`,
			operator, operator),
		For:         "5m",
		Summary:     "Prefect server " + who + " has no ready replica.",
		Description: "The PrefectServer wants replicas but none has been ready for 5 minutes: its API and UI do not answer.",
	}, {
		Name:     "PrefectRunsLate",
		Severity: "warning",
		Expr: fmt.Sprintf(`time() - min by (namespace, job, work_pool, work_queue) (prefect_work_queue_earliest_scheduled_run_timestamp_seconds{%s}) > %d`,
			server, durationSeconds(m.LateRunsAfter, defaultLateRunsAfter)),
		For:     "1m",
		Summary: "Runs of Prefect server " + who + " in work queue {{ $labels.work_pool }}/{{ $labels.work_queue }} are late.",
		Description: "The queue's earliest scheduled run should have started {{ $value | humanizeDuration }} ago, more than " +
			lateText + ": no worker takes the queue's runs.",
	}, {
		Name:     "PrefectEventPersisterBacklogGrowing",
		Severity: "warning",
		Expr: fmt.Sprintf(`min_over_time(prefect_event_persister_backlog{%s}[10m]) > 0 and deriv(prefect_event_persister_backlog{%s}[10m]) > 0`,
			server, server),
		For:     "10m",
		Summary: "The event persister of Prefect server " + who + " ({{ $labels.pod }}) falls behind.",
		Description: "Events have been waiting to be written for 20 minutes and their number keeps growing: " +
			"the database does not keep up, and clients' events are refused once the queue is full.",
	}}
	if a, ok := schedulerAlert(ps, who, server, operator, m); ok {
		out = append(out, a)
	}
	return append(out, Alert{
		Name:     "PrefectMigrationFailed",
		Severity: "critical",
		Expr:     fmt.Sprintf(`prefectgo_operator_server_migration_state{%s, state="failed"} == 1`, operator),
		Summary:  "The database migration of Prefect server " + who + " failed.",
		Description: "The migration Job failed: the server keeps running its previous version, and no change " +
			"to its spec rolls out until a migration succeeds.",
	}, Alert{
		Name:        "PrefectCanaryFailing",
		Severity:    "warning",
		Expr:        fmt.Sprintf(`prefectgo_operator_canary_success{%s} == 0`, operator),
		For:         "10m",
		Summary:     "The canary runs of Prefect server " + who + " fail.",
		Description: "The operator's canary flow run has failed for 10 minutes (condition RunsHealthy): runs are not carried through.",
	})
}

// schedulerAlert is PrefectSchedulerNotRunning for where the scheduler
// runs: the scheduling CronJob, whose last success the operator exports, or,
// with ephemeral storage, the server's leader, which exports its own; none
// while scheduling is suspended or turned off.
func schedulerAlert(ps *v1alpha1.PrefectServer, who, server, operator string, m v1alpha1.MonitoringAlerts) (Alert, bool) {
	stale := durationSeconds(m.SchedulerStaleAfter, defaultSchedulerStaleAfter)
	staleText := cmpOr(string(m.SchedulerStaleAfter), defaultSchedulerStaleAfter)
	a := Alert{
		Name:     "PrefectSchedulerNotRunning",
		Severity: "warning",
		Summary:  "The scheduler of Prefect server " + who + " has not run for " + staleText + ".",
	}
	switch {
	case Suspended(ps):
		return Alert{}, false
	case hasCronJobs(ps):
		if ps.Spec.Scheduling.Suspend {
			return Alert{}, false
		}
		a.Expr = fmt.Sprintf(`time() - prefectgo_operator_scheduler_last_success_timestamp_seconds{%s} > %d`, operator, stale)
		a.Description = "No run of the scheduling CronJob " + SchedulerCronJobName(ps) + " has succeeded for more than " +
			staleText + ": deployments' schedules get no new runs."
	default:
		if !orDefault(ps.Spec.Services.Scheduler.Enabled, true) {
			return Alert{}, false
		}
		a.Expr = fmt.Sprintf(`time() - max by (namespace, job) (prefect_service_last_success_timestamp_seconds{%s, service="scheduler"}) > %d`,
			server, stale)
		a.Description = "No pass of the server's scheduler has succeeded for more than " + staleText +
			": deployments' schedules get no new runs."
	}
	return a, true
}

// durationSeconds is a Prometheus duration in whole seconds, def's when it
// is unset (or, past the CRD's pattern, still unreadable).
func durationSeconds(d v1alpha1.PrometheusDuration, def string) int64 {
	parsed, err := model.ParseDuration(cmpOr(string(d), def))
	if err != nil {
		parsed, _ = model.ParseDuration(def)
	}
	return int64(time.Duration(parsed).Seconds())
}
