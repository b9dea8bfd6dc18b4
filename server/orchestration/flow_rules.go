package orchestration

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// preserveDeploymentConcurrencyLeaseID is Prefect's
// PreserveDeploymentConcurrencyLeaseId: workers send a null lease id, which
// must not drop the one the run holds.
func preserveDeploymentConcurrencyLeaseID() rule[*flowTx] {
	return rule[*flowTx]{
		name: "PreserveDeploymentConcurrencyLeaseId",
		from: inAll,
		to:   inAll,
		before: func(_ *flowTx, r *ruleCall) {
			if r.t.initial == nil {
				return
			}
			d := &r.t.proposed.StateDetails
			if lease := r.t.initial.StateDetails.DeploymentConcurrencyLeaseID; lease != nil && d.DeploymentConcurrencyLeaseID == nil {
				d.DeploymentConcurrencyLeaseID = lease
			}
		},
	}
}

// preventDuplicateTransitions is Prefect's PreventDuplicateTransitions: a
// client retrying a request whose response it lost gets the state already
// written instead of a second transition.
func preventDuplicateTransitions() rule[*flowTx] {
	return rule[*flowTx]{
		name: "PreventDuplicateTransitions",
		from: inAll,
		to:   inAll,
		before: func(_ *flowTx, r *ruleCall) {
			if r.t.initial == nil {
				return
			}
			a, b := r.t.initial.StateDetails.TransitionID, r.t.proposed.StateDetails.TransitionID
			if a != nil && b != nil && *a == *b {
				r.reject(nil, "This run has already made this state transition.")
			}
		},
	}
}

// handleFlowTerminalStateTransitions is Prefect's
// HandleFlowTerminalStateTransitions: finished runs may not crash, pause or
// start cancelling, a persisted result is never thrown away, and only
// deployed runs can be rescheduled. A run leaving a terminal state (a manual
// retry) starts with fresh pause bookkeeping, restored if the transition
// fizzles.
func handleFlowTerminalStateTransitions() rule[*flowTx] {
	var saved schema.FlowRunPolicy
	return rule[*flowTx]{
		name: "HandleFlowTerminalStateTransitions",
		from: inTerminal,
		to:   inAll,
		before: func(c *flowTx, r *ruleCall) {
			in, p := r.t.initial, r.t.proposed
			saved = c.run.EmpiricalPolicy
			switch p.Type {
			case schema.StateCancelling, schema.StatePaused, schema.StateCrashed:
				r.abort(fmt.Sprintf("Run is already in terminal state %s.", in.Type))
				return
			}
			if in.Type == schema.StateCompleted && holdsPersistedResult(in) {
				if !p.Type.Terminal() {
					r.reject(nil, "Run is already COMPLETED.")
					return
				}
				if p.Type == schema.StateCompleted && !persistedResult(decodeData(p.Data)) {
					r.reject(nil, "Cannot overwrite a COMPLETED state that carries persisted result "+
						"data with one that does not.")
					return
				}
			}
			if p.Type == schema.StateScheduled && c.run.DeploymentID == nil {
				r.abort("Cannot reschedule a run without an associated deployment.")
				return
			}
			if !p.Type.Terminal() {
				pol := &c.run.EmpiricalPolicy
				pol.Resuming = false
				pol.PauseKeys = []string{}
				pol.RetryType = nil
				if p.Type == schema.StateScheduled {
					pol.RetryType = ptr("reschedule")
				}
			}
		},
		cleanup: func(c *flowTx, _ *ruleCall) {
			c.run.EmpiricalPolicy = saved
		},
	}
}

// preventResultDataLoss is Prefect's PreventResultDataLoss, the forced-path
// guard against overwriting a persisted COMPLETED result with none.
func preventResultDataLoss() rule[*flowTx] {
	return rule[*flowTx]{
		name: "PreventResultDataLoss",
		from: inTerminal,
		to:   inTerminal,
		before: func(_ *flowTx, r *ruleCall) {
			in, p := r.t.initial, r.t.proposed
			if in.Type == schema.StateCompleted && p.Type == schema.StateCompleted &&
				holdsPersistedResult(in) && !persistedResult(decodeData(p.Data)) {
				r.reject(nil, "Cannot overwrite a COMPLETED state that carries persisted result "+
					"data with one that does not.")
			}
		},
	}
}

// enforceCancellingToCancelledTransition is Prefect's
// EnforceCancellingToCancelledTransition: once cancelling, a run can only
// end cancelled.
func enforceCancellingToCancelledTransition() rule[*flowTx] {
	return rule[*flowTx]{
		name: "EnforceCancellingToCancelledTransition",
		from: inCancelling,
		to:   inAll &^ inCancelled,
		before: func(_ *flowTx, r *ruleCall) {
			r.reject(nil, "Cannot transition flows that are cancelling to a state other than Cancelled.")
		},
	}
}

// bypassCancellingFlowRunsWithNoInfra is Prefect's
// BypassCancellingFlowRunsWithNoInfra: Cancelling exists to tear down
// infrastructure, so a run that has none goes straight to Cancelled.
func bypassCancellingFlowRunsWithNoInfra() rule[*flowTx] {
	return rule[*flowTx]{
		name: "BypassCancellingFlowRunsWithNoInfra",
		from: inScheduled | inPaused,
		to:   inCancelling,
		before: func(c *flowTx, r *ruleCall) {
			in := r.t.initial
			noPID := c.run.InfrastructurePID == nil || *c.run.InfrastructurePID == ""
			switch {
			case in.Type == schema.StateScheduled && noPID || in.Name == "Resuming":
				r.reject(newState(schema.StateCancelled, "", r.t.now),
					"Scheduled flow run has no infrastructure to terminate.")
			case in.Type == schema.StatePaused && in.StateDetails.PauseReschedule:
				r.reject(newState(schema.StateCancelled, "", r.t.now),
					"Suspended flow run has no infrastructure to terminate.")
			}
		},
	}
}

// ensureOnlyScheduledFlowsMarkedLate is Prefect's
// EnsureOnlyScheduledFlowsMarkedLate: "Late" is a Scheduled run that missed
// its time, and it is marked once.
func ensureOnlyScheduledFlowsMarkedLate() rule[*flowTx] {
	return rule[*flowTx]{
		name: "EnsureOnlyScheduledFlowsMarkedLate",
		from: inAll,
		to:   inScheduled,
		before: func(_ *flowTx, r *ruleCall) {
			in, p := r.t.initial, r.t.proposed
			if in == nil || p.Name != "Late" {
				return
			}
			if in.Type != schema.StateScheduled {
				r.reject(nil, "Only scheduled flows can be marked late.")
			} else if in.Name == "Late" {
				r.reject(nil, "This flow run is already marked late.")
			}
		},
	}
}

// pauseVerb is how Prefect's pause rules word a state named "Suspended".
func pauseVerb(s *schema.State) string {
	if s.Name == "Suspended" {
		return "suspend"
	}
	return "pause"
}

// handlePausingFlows is Prefect's HandlePausingFlows: only a running flow
// pauses, each pause key fires once, and a suspension (which tears the
// process down) needs a top-level deployed flow to be rescheduled later.
func handlePausingFlows() rule[*flowTx] {
	var key string
	return rule[*flowTx]{
		name: "HandlePausingFlows",
		from: inAll,
		to:   inPaused,
		before: func(c *flowTx, r *ruleCall) {
			in, p := r.t.initial, r.t.proposed
			verb := pauseVerb(p)
			if in == nil {
				r.abort(fmt.Sprintf("Cannot %s flows with no state.", verb))
				return
			}
			if in.Type != schema.StateRunning {
				r.reject(nil, fmt.Sprintf("Cannot %s flows that are not currently running.", verb))
				return
			}
			key = uuid.NewString()
			if p.StateDetails.PauseKey != nil {
				key = *p.StateDetails.PauseKey
			}
			if slices.Contains(c.run.EmpiricalPolicy.PauseKeys, key) {
				r.reject(nil, fmt.Sprintf("This %s has already fired.", verb))
				return
			}
			if p.StateDetails.PauseReschedule {
				if c.run.ParentTaskRunID != nil {
					r.abort(fmt.Sprintf("Cannot %s subflows.", verb))
					return
				}
				if c.run.DeploymentID == nil {
					r.abort(fmt.Sprintf("Cannot %s flows without a deployment.", verb))
					return
				}
			}
		},
		after: func(c *flowTx, _ *ruleCall) {
			pol := &c.run.EmpiricalPolicy
			if !slices.Contains(pol.PauseKeys, key) {
				pol.PauseKeys = append(pol.PauseKeys, key)
			}
		},
	}
}

// handleResumingPausedFlows is Prefect's HandleResumingPausedFlows: a
// paused run leaves only to run, be rescheduled or finish; a suspended one
// needs its deployment; an expired pause fails the run. Leaving marks the
// run as resuming so that its next start is not counted as a new attempt.
func handleResumingPausedFlows() rule[*flowTx] {
	return rule[*flowTx]{
		name: "HandleResumingPausedFlows",
		from: inPaused,
		to:   inAll,
		before: func(c *flowTx, r *ruleCall) {
			in, p := r.t.initial, r.t.proposed
			if p.Type != schema.StateRunning && p.Type != schema.StateScheduled && !p.Type.Terminal() {
				// Prefect formats the enum members, hence "StateType.X".
				r.reject(nil, fmt.Sprintf("This run cannot transition to the StateType.%s state from the StateType.%s state.",
					p.Type, in.Type))
				return
			}
			verb := pauseVerb(p)
			display := strings.ToLower(p.Name)
			if display == "" {
				display = strings.ToLower(string(p.Type))
			}
			if in.StateDetails.PauseReschedule && c.run.DeploymentID == nil {
				r.reject(nil, fmt.Sprintf("Cannot reschedule a %s flow run without a deployment.", display))
				return
			}
			if t := in.StateDetails.PauseTimeout; t != nil && t.Before(r.t.now) {
				failed := newState(schema.StateFailed, "", r.t.now)
				failed.Message = ptr(fmt.Sprintf("The flow was %s and never resumed.", display))
				r.reject(failed, fmt.Sprintf("The flow run %s has timed out and can no longer resume.", verb))
			}
		},
		// Prefect's after hook also fires when the rule rejected the
		// transition itself (its TO set includes "no state").
		after: func(c *flowTx, _ *ruleCall) {
			c.run.EmpiricalPolicy.Resuming = true
		},
	}
}

// retryFailedFlows is Prefect's RetryFailedFlows: a failure with retries
// left is turned into AwaitingRetry at now+retry_delay, and the run is
// marked as retried in process so that workers leave it alone.
func retryFailedFlows() rule[*flowTx] {
	return rule[*flowTx]{
		name: "RetryFailedFlows",
		from: inRunning,
		to:   inFailed,
		before: func(c *flowTx, r *ruleCall) {
			pol := &c.run.EmpiricalPolicy
			retries := pol.Retries
			if retries == nil && pol.MaxRetries != 0 {
				retries = &pol.MaxRetries // the legacy field, as Prefect's validator fills it
			}
			if retries == nil || c.run.RunCount > *retries {
				// Out of retries: clear the type so a later manual retry
				// is not mistaken for an in-process one.
				pol.RetryType = nil
				return
			}
			delay := pol.RetryDelaySeconds
			if pol.RetryDelay != nil {
				delay = *pol.RetryDelay
			}
			pol.Resuming = false
			pol.PauseKeys = []string{}
			pol.RetryType = ptr("in_process")
			r.reject(awaitingRetry(r.t.now.Add(delayDuration(delay)), r.t.proposed, r.t.now), "Retrying")
		},
	}
}

func ptr[T any](v T) *T { return &v }
