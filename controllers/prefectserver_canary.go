package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/builders"
	"prefectgo.dev/prefectgo/controllers/canary"
	"prefectgo.dev/prefectgo/controllers/opmetrics"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// The canary's defaults, as the CRD's (for an object written before it had them).
const (
	DefaultCanaryInterval = 5 * time.Minute
	DefaultCanaryTimeout  = 30 * time.Second
)

// Reasons of Ready that the canary adds.
const (
	ReasonCanaryPending = "CanaryPending"
	ReasonRunsUnhealthy = "RunsUnhealthy"
)

// canaryRun is what this pass's canary saw.
type canaryRun struct {
	started time.Time
	// rollout is currentRollout when it ran: "" if the pods were not all of
	// the current rollout.
	rollout string
	result  canary.Result
}

func canaryEnabled(ps *v1alpha1.PrefectServer) bool {
	return ps.Spec.Canary != nil && ps.Spec.Canary.Enabled
}

func canaryInterval(ps *v1alpha1.PrefectServer) time.Duration {
	if c := ps.Spec.Canary; c != nil && c.Interval != nil && c.Interval.Duration > 0 {
		return c.Interval.Duration
	}
	return DefaultCanaryInterval
}

func canaryTimeout(ps *v1alpha1.PrefectServer) time.Duration {
	if c := ps.Spec.Canary; c != nil && c.Timeout != nil && c.Timeout.Duration > 0 {
		return c.Timeout.Duration
	}
	return DefaultCanaryTimeout
}

// currentRollout names the rollout the server pods are all of, as
// "<generation>/<config hash>": only when this pass applied the Deployment
// (so its template is this generation's) and every pod is updated and
// available; "" otherwise. A canary proves a rollout only if it ran then.
func currentRollout(p *pass, dep *appsv1.Deployment) string {
	if p.deployment == nil || dep == nil || !rolledOut(dep) {
		return ""
	}
	return fmt.Sprintf("%d/%s", p.ps.Generation, dep.Spec.Template.Annotations[builders.ConfigHashAnnotation])
}

// canaryDue says whether the canary runs in this pass and, if not, how long
// until it is due (zero: a watch brings the pass that runs it). It runs
// once a server pod is ready: at once when the last run is not of the
// current rollout, else an interval after the last run.
func canaryDue(p *pass, dep *appsv1.Deployment, now time.Time) (bool, time.Duration) {
	ps := p.ps
	if !canaryEnabled(ps) || dep == nil || builders.Suspended(ps) || desiredReplicas(dep) == 0 || dep.Status.ReadyReplicas == 0 {
		return false, 0
	}
	last := ps.Status.Canary
	if last == nil || last.LastRunTime == nil {
		return true, 0
	}
	if cur := currentRollout(p, dep); cur != "" && cur != last.Rollout {
		return true, 0
	}
	next := last.LastRunTime.Add(canaryInterval(ps))
	if !now.Before(next) {
		return true, 0
	}
	return false, next.Sub(now)
}

// canaryStep runs the canary when it is due, through the server's Service
// with the API's credentials, and returns when the next one is due. It runs
// inside the reconcile, which the workqueue never runs twice at once for
// one PrefectServer, so a server's canaries never overlap; and only when
// due, bounded by its timeout, after the children are applied, so a spec
// change waits at most that long.
func (r *PrefectServerReconciler) canaryStep(ctx context.Context, p *pass) (time.Duration, error) {
	ps := p.ps
	if !canaryEnabled(ps) {
		opmetrics.ForgetCanary(ps.Namespace, ps.Name)
		return 0, nil
	}
	if p.missingSecret != "" {
		return 0, nil // no credentials to run it with; the Secret's watch brings the next pass
	}
	dep := p.deployment // as applied, status included
	if dep == nil {
		// The pass stopped before the Deployment: the pods that serve are
		// the cache's Deployment's.
		var err error
		if dep, err = r.observeDeployment(ctx, ps); err != nil {
			return 0, err
		}
	}
	now := time.Now()
	due, after := canaryDue(p, dep, now)
	if !due {
		return after, nil
	}
	auth := ""
	if ref := ps.Spec.API.AuthSecretRef; ref != nil {
		// loadSecrets read it; never logged, never in the status.
		auth = string(p.inputs.SecretData[ref.Name+"/"+ref.Key])
	}
	newClient := r.NewClient
	if newClient == nil {
		newClient = prefectapi.New
	}
	res := canary.Run(ctx, newClient(builders.APIURL(ps), auth), canaryTimeout(ps))
	opmetrics.RecordCanary(ps.Namespace, ps.Name, res.Passed(), res.Duration)
	p.canary = &canaryRun{started: now, rollout: currentRollout(p, dep), result: res}
	return canaryInterval(ps), nil
}

// canaryStatus is status.canary after this pass: nil with the canary off.
func canaryStatus(p *pass) *v1alpha1.CanaryStatus {
	if !canaryEnabled(p.ps) {
		return nil
	}
	st := p.ps.Status.Canary.DeepCopy()
	if st == nil {
		st = &v1alpha1.CanaryStatus{}
	}
	if run := p.canary; run != nil {
		t := metav1.NewTime(run.started)
		st.LastRunTime, st.Rollout = &t, run.rollout
		if run.result.Passed() {
			st.LastSuccessTime = &t
		}
	}
	return st
}

// runsHealthy is the RunsHealthy condition after this pass: the result of
// its canary, or nil to keep the last one (Unknown before any).
func runsHealthy(p *pass) *metav1.Condition {
	if !canaryEnabled(p.ps) {
		return nil
	}
	c := &metav1.Condition{Type: v1alpha1.ConditionRunsHealthy}
	switch run := p.canary; {
	case run != nil && run.result.Passed():
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, canary.ReasonPassed, run.result.Message()
	case run != nil:
		c.Status, c.Reason = metav1.ConditionFalse, conditionReason(run.result.Reason(), ReasonReconcileError)
		c.Message = run.result.Message()
	case meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionRunsHealthy) == nil:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, ReasonPending, "no canary has run yet: it runs once a server pod is ready"
	default:
		return nil
	}
	return c
}

// gateReady holds a Ready the pods earned until the canary has passed on
// the current rollout. It returns nil when this pass cannot judge (it did
// not apply the Deployment, so it cannot tell which rollout is current):
// the previous Ready stands.
func gateReady(p *pass, dep *appsv1.Deployment, ready metav1.Condition, runs *metav1.Condition) *metav1.Condition {
	if !canaryEnabled(p.ps) || ready.Status != metav1.ConditionTrue {
		return &ready
	}
	if runs == nil {
		runs = meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionRunsHealthy)
	}
	last := p.ps.Status.Canary
	cur := currentRollout(p, dep)
	switch {
	case p.deployment == nil && meta.FindStatusCondition(p.ps.Status.Conditions, v1alpha1.ConditionReady) != nil:
		return nil
	case cur == "" || last == nil || last.Rollout != cur:
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonCanaryPending
		ready.Message += "; waiting for a canary to pass on the current rollout"
	case runs == nil || runs.Status != metav1.ConditionTrue:
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonRunsUnhealthy
		ready.Message += "; the last canary failed (see RunsHealthy)"
	default:
		ready.Message += "; the canary passed on them"
	}
	return &ready
}
