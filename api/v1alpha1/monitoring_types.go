package v1alpha1

import corev1 "k8s.io/api/core/v1"

// MonitoringSpec has the server scraped by a Prometheus that the
// prometheus-operator runs (monitoring.coreos.com), and alerted on. Enabled,
// it turns on the server's metrics (whatever metricsEnabled says) and the
// operator creates a ServiceMonitor on the server's Service, or a PodMonitor
// on its pods, scraping /api/metrics, and a PrometheusRule with the alerts
// listed in docs/runbooks. The prometheus-operator's CRDs are optional:
// while a cluster lacks them the operator reconciles everything else and
// reports Monitoring=False (PrometheusOperatorNotInstalled), and looks again
// every few minutes.
type MonitoringSpec struct {
	// Enabled turns monitoring on; false (or no monitoring) deletes the
	// ServiceMonitor, PodMonitor and PrometheusRule the operator made.
	// +required
	Enabled bool `json:"enabled"`
	// PodMonitor scrapes each server pod through a PodMonitor instead of a
	// ServiceMonitor on the Service (for a Prometheus that selects only
	// PodMonitors). The pods are scraped either way, on the same port and path.
	// +optional
	PodMonitor bool `json:"podMonitor,omitempty"`
	// Interval between scrapes; unset means the Prometheus's own.
	// +optional
	Interval PrometheusDuration `json:"interval,omitempty"`
	// Labels of the ServiceMonitor or PodMonitor and of the PrometheusRule:
	// the labels your Prometheus's serviceMonitorSelector, podMonitorSelector
	// and ruleSelector match (kube-prometheus-stack selects its release label,
	// release: <its release name>, unless told otherwise).
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// BasicAuth is what Prometheus scrapes with when api.authSecretRef is
	// set, which puts /api/metrics behind basic auth too: a username and a
	// password, each a key of a Secret in this namespace that Prometheus
	// reads (the operator does not).
	// +optional
	BasicAuth *MonitoringBasicAuth `json:"basicAuth,omitempty"`
	// Alerts shapes the PrometheusRule.
	// +kubebuilder:default={}
	// +optional
	Alerts MonitoringAlerts `json:"alerts,omitzero"`
}

// MonitoringBasicAuth names the scrape's credentials.
type MonitoringBasicAuth struct {
	// Username is the key of a Secret holding the user of api.authSecretRef.
	// +required
	Username corev1.SecretKeySelector `json:"username"`
	// Password is the key of a Secret holding that user's password.
	// +required
	Password corev1.SecretKeySelector `json:"password"`
}

// MonitoringAlerts shapes the PrometheusRule. Every alert's runbook_url
// points at its page in docs/runbooks.
type MonitoringAlerts struct {
	// Enabled creates the PrometheusRule; false deletes it and keeps the scrape.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// LateRunsAfter is how late a work queue's earliest scheduled run may be
	// before PrefectRunsLate fires.
	// +kubebuilder:default="10m"
	// +optional
	LateRunsAfter PrometheusDuration `json:"lateRunsAfter,omitempty"`
	// SchedulerStaleAfter is how long the scheduler may go without a
	// successful pass (the scheduling CronJob's, or with ephemeral storage
	// the server's own) before PrefectSchedulerNotRunning fires. Keep it well
	// above the scheduling CronJob's period.
	// +kubebuilder:default="10m"
	// +optional
	SchedulerStaleAfter PrometheusDuration `json:"schedulerStaleAfter,omitempty"`
	// RunbookBaseURL is where the runbook pages are: each alert's runbook_url
	// is this URL followed by its page's file name. Unset means the pages of
	// this project's docs/runbooks; set it to serve your own copies.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://.+/$')",message="runbookBaseURL must be an http(s) URL ending in /"
	// +optional
	RunbookBaseURL string `json:"runbookBaseURL,omitempty"`
}

// PrometheusDuration is a length of time as Prometheus writes it: 30s, 5m,
// 1h30m, 7d.
// +kubebuilder:validation:Pattern=`^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$`
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=32
type PrometheusDuration string
