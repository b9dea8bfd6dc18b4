package orchestration

import (
	"fmt"

	"prefectgo.dev/prefectgo/server/schema"
)

// Rules Prefect applies to flow and task runs alike.

// copyScheduledTime is Prefect's CopyScheduledTime: a Pending state keeps
// the scheduled time of the Scheduled state it leaves unless it brings one.
func copyScheduledTime[C any]() rule[C] {
	return rule[C]{
		name: "CopyScheduledTime",
		from: inScheduled,
		to:   inPending,
		before: func(_ C, r *ruleCall) {
			if r.t.proposed.StateDetails.ScheduledTime == nil {
				r.t.proposed.StateDetails.ScheduledTime = r.t.initial.StateDetails.ScheduledTime
			}
		},
	}
}

// waitForScheduledTime is Prefect's WaitForScheduledTime: a run may not
// start before its scheduled time by the server's clock, so an early start
// is told to wait.
func waitForScheduledTime[C any]() rule[C] {
	return rule[C]{
		name: "WaitForScheduledTime",
		from: inScheduled | inPending,
		to:   inRunning,
		before: func(_ C, r *ruleCall) {
			at := r.t.initial.StateDetails.ScheduledTime
			if at == nil {
				return
			}
			if d := waitSeconds(*at, r.t.now); d > 0 {
				r.wait(d, "Scheduled time is in the future")
			}
		},
	}
}

// preventPendingTransitions is Prefect's PreventPendingTransitions: a second
// worker submitting the same run finds it Pending or further along and is
// aborted. Moving between named Pending sub-states ("Submitting") is
// allowed, carrying the details earlier rules set.
func preventPendingTransitions[C any]() rule[C] {
	return rule[C]{
		name: "PreventPendingTransitions",
		from: inPending | inCancelling | inRunning | inCancelled,
		to:   inPending,
		before: func(_ C, r *ruleCall) {
			in, p := r.t.initial, r.t.proposed
			if in.Type == schema.StatePending && in.Name != p.Name && p.Name != "Pending" {
				p.StateDetails.ScheduledTime = in.StateDetails.ScheduledTime
				p.StateDetails.DeploymentConcurrencyLeaseID = in.StateDetails.DeploymentConcurrencyLeaseID
				return
			}
			r.abort(fmt.Sprintf("This run is in a %s state and cannot transition to a PENDING state.", in.Type))
		},
	}
}
