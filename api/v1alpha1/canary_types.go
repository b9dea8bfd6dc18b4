package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CanarySpec is the operator's proof that the server runs flows, which a
// health probe cannot give: every interval the operator takes a flow run of
// the flow prefectgo-canary through the server's API (created, Running, a
// log line and an event, Completed, read back, deleted) and reports the
// outcome in the RunsHealthy condition. With it enabled, Ready also waits,
// after every rollout, for a canary that passed on the new pods.
type CanarySpec struct {
	// Enabled runs the canary.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Interval from the start of one canary to the next, as a Go duration
	// (30s, 5m, 1h); a server's canaries never overlap. A rollout that
	// completes runs one at once.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="canary.interval must be a duration of at least 1s, such as 5m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Timeout bounds one canary, all its steps together (deleting the flow
	// run after a failed step gets as long again).
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="canary.timeout must be a duration of at least 1s, such as 30s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// CanaryStatus is what the last canary saw; absent while the canary is off.
type CanaryStatus struct {
	// LastRunTime is when the last canary started.
	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
	// LastSuccessTime is when the last canary that passed started.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`
	// Rollout names what the last canary ran on: the PrefectServer's
	// generation and the server pods' configuration hash
	// ("<generation>/<hash>"); empty when pods of an earlier rollout were
	// still serving. Ready waits for a canary that passed on the current one.
	// +optional
	Rollout string `json:"rollout,omitempty"`
}
