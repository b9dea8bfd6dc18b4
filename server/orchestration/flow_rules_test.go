package orchestration

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

const (
	sched      = schema.StateScheduled
	pending    = schema.StatePending
	running    = schema.StateRunning
	completed  = schema.StateCompleted
	failed     = schema.StateFailed
	cancelled  = schema.StateCancelled
	crashed    = schema.StateCrashed
	paused     = schema.StatePaused
	cancelling = schema.StateCancelling

	accept = schema.StatusAccept
	reject = schema.StatusReject
	wait   = schema.StatusWait
	abort  = schema.StatusAbort
)

func withDeployment(r *schema.FlowRun) { r.DeploymentID = ptr(deployment) }

func TestPreserveDeploymentConcurrencyLeaseId(t *testing.T) {
	lease, other := uuid.New(), uuid.New()
	withLease := func(id uuid.UUID) stateOpt {
		return withDetails(func(d *schema.StateDetails) { d.DeploymentConcurrencyLeaseID = &id })
	}
	runFlowCases(t, []flowCase{
		{
			name: "copied forward when the proposal has none", initial: was(pending, withLease(lease)),
			proposed: mk(running), status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, lease, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			},
		},
		{
			// Not PENDING -> RUNNING, where ValidateDeploymentConcurrencyAtRunning
			// keeps the initial lease.
			name: "a proposed lease wins", initial: was(running, withLease(lease)),
			proposed: mk(completed, withLease(other)), status: accept, write: completed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, other, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			},
		},
		{
			name: "no initial state", proposed: mk(running), status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Nil(t, res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			},
		},
	})
}

func TestPreventDuplicateTransitions(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	tid := func(id uuid.UUID) stateOpt {
		return withDetails(func(d *schema.StateDetails) { d.TransitionID = &id })
	}
	const dup = "This run has already made this state transition."
	runFlowCases(t, []flowCase{
		{name: "same id", initial: was(running, tid(a)), proposed: mk(running, tid(a)), status: reject, reason: dup,
			check: func(t *testing.T, in schema.FlowRun, res FlowRunResult) { require.Equal(t, in, res.Run) }},
		{name: "same id, other type", initial: was(pending, tid(a)), proposed: mk(running, tid(a)), status: reject, reason: dup},
		{name: "different ids", initial: was(pending, tid(a)), proposed: mk(running, tid(b)), status: accept, write: running},
		{name: "proposal without id", initial: was(pending, tid(a)), proposed: mk(running), status: accept, write: running},
		{name: "initial without id", initial: was(pending), proposed: mk(running, tid(a)), status: accept, write: running},
		{name: "neither", initial: was(pending), proposed: mk(running), status: accept, write: running},
		{name: "forced", initial: was(running, tid(a)), proposed: mk(running, tid(a)), force: true, status: accept, write: running},
	})
}

func TestHandleFlowTerminalStateTransitions(t *testing.T) {
	var cases []flowCase
	for _, from := range terminalTypes {
		for _, to := range []schema.StateType{crashed, cancelling, paused} {
			cases = append(cases, flowCase{
				name: fmt.Sprintf("%s to %s", from, to), initial: was(from), proposed: mk(to), setup: withDeployment,
				status: abort, reason: fmt.Sprintf("Run is already in terminal state %s.", from),
			})
		}
	}
	keepPolicy := func(r *schema.FlowRun) {
		r.EmpiricalPolicy.PauseKeys = []string{"k"}
		r.EmpiricalPolicy.Resuming = true
		r.EmpiricalPolicy.RetryType = ptr("in_process")
	}
	policyReset := func(retryType *string) func(*testing.T, schema.FlowRun, FlowRunResult) {
		return func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
			p := res.Run.EmpiricalPolicy
			require.Equal(t, []string{}, p.PauseKeys)
			require.False(t, p.Resuming)
			require.Equal(t, retryType, p.RetryType)
		}
	}
	policyKept := func(t *testing.T, in schema.FlowRun, res FlowRunResult) {
		require.Equal(t, in.EmpiricalPolicy, res.Run.EmpiricalPolicy)
	}
	const overwrite = "Cannot overwrite a COMPLETED state that carries persisted result data with one that does not."
	cases = append(cases, []flowCase{
		{name: "persisted COMPLETED to RUNNING", initial: was(completed, withData(persisted)), proposed: mk(running),
			status: reject, reason: "Run is already COMPLETED.", check: policyKept},
		{name: "persisted COMPLETED to PENDING", initial: was(completed, withData(persisted)), proposed: mk(pending),
			status: reject, reason: "Run is already COMPLETED."},
		{name: "persisted COMPLETED to COMPLETED without data", initial: was(completed, withData(persisted)),
			proposed: mk(completed), status: reject, reason: overwrite},
		{name: "persisted COMPLETED to COMPLETED with unpersisted data", initial: was(completed, withData(persisted)),
			proposed: mk(completed, withData(`{"type":"unpersisted"}`)), status: reject, reason: overwrite},
		{name: "persisted COMPLETED to COMPLETED with a result", initial: was(completed, withData(persisted)),
			proposed: mk(completed, withData(persisted)), status: accept, write: completed},
		{name: "persisted COMPLETED to FAILED", initial: was(completed, withData(persisted)),
			proposed: mk(failed), status: accept, write: failed},
		{name: "unpersisted COMPLETED to RUNNING", initial: was(completed, withData(`{"type":"unpersisted"}`)),
			proposed: mk(running), setup: keepPolicy, status: accept, write: running, check: policyReset(nil)},
		{name: "scalar COMPLETED data is not a persisted result", initial: was(completed, withData(`"hello"`)),
			proposed: mk(completed), status: accept, write: completed},
		{name: "COMPLETED without data to RUNNING", initial: was(completed), proposed: mk(running),
			setup: keepPolicy, status: accept, write: running, check: policyReset(nil)},
		{name: "FAILED to SCHEDULED without a deployment", initial: was(failed), proposed: mk(sched),
			status: abort, reason: "Cannot reschedule a run without an associated deployment."},
		{name: "manual retry: FAILED to SCHEDULED", initial: was(failed), proposed: mk(sched, named("AwaitingRetry")),
			setup:  func(r *schema.FlowRun) { withDeployment(r); keepPolicy(r); r.RunCount = 3 },
			status: accept, write: sched, wname: "AwaitingRetry",
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				policyReset(ptr("reschedule"))(t, schema.FlowRun{}, res)
				require.Equal(t, 3, res.Run.RunCount)
			}},
		{name: "CANCELLED to RUNNING", initial: was(cancelled), proposed: mk(running), setup: keepPolicy,
			status: accept, write: running, check: policyReset(nil)},
		{name: "final to final keeps the policy", initial: was(failed), proposed: mk(completed), setup: keepPolicy,
			status: accept, write: completed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, []string{"k"}, res.Run.EmpiricalPolicy.PauseKeys)
				require.Equal(t, ptr("in_process"), res.Run.EmpiricalPolicy.RetryType)
				require.False(t, res.Run.EmpiricalPolicy.Resuming, "cleared by RemoveResumingIndicator")
			}},
		// A later rule's rejection fizzles the rule: its policy reset is undone.
		{name: "fizzled by a later rejection", initial: was(failed), proposed: mk(sched, named("Late")),
			setup:  func(r *schema.FlowRun) { withDeployment(r); keepPolicy(r) },
			status: reject, reason: "Only scheduled flows can be marked late.", check: policyKept},
		{name: "fizzled by a later abort", initial: was(cancelled), proposed: mk(pending), setup: keepPolicy,
			status: abort, reason: "This run is in a CANCELLED state and cannot transition to a PENDING state.",
			check: policyKept},
		{name: "forced out of a terminal state", initial: was(completed, withData(persisted)), proposed: mk(running),
			force: true, status: accept, write: running},
	}...)
	runFlowCases(t, cases)
}

func TestPreventResultDataLoss(t *testing.T) {
	const overwrite = "Cannot overwrite a COMPLETED state that carries persisted result data with one that does not."
	runFlowCases(t, []flowCase{
		{name: "forced COMPLETED over a persisted result", initial: was(completed, withData(persisted)),
			proposed: mk(completed), force: true, status: reject, reason: overwrite},
		{name: "forced COMPLETED with scalar data", initial: was(completed, withData(persisted)),
			proposed: mk(completed, withData(`1`)), force: true, status: reject, reason: overwrite},
		{name: "forced COMPLETED carrying a result", initial: was(completed, withData(persisted)),
			proposed: mk(completed, withData(persisted)), force: true, status: accept, write: completed},
		{name: "initial data unpersisted", initial: was(completed, withData(`{"type":"unpersisted"}`)),
			proposed: mk(completed), force: true, status: accept, write: completed},
		{name: "initial without data", initial: was(completed), proposed: mk(completed), force: true, status: accept, write: completed},
		{name: "initial scalar data", initial: was(completed, withData(`[1,2,3]`)), proposed: mk(completed), force: true, status: accept, write: completed},
		{name: "to another final state", initial: was(completed, withData(persisted)), proposed: mk(crashed), force: true, status: accept, write: crashed},
		{name: "not guarded: to a non-final state", initial: was(completed, withData(persisted)), proposed: mk(running), force: true, status: accept, write: running},
	})
}

func TestEnforceCancellingToCancelledTransition(t *testing.T) {
	var cases []flowCase
	for _, to := range typesExcept(cancelled) {
		cases = append(cases, flowCase{
			name: "to " + string(to), initial: was(cancelling), proposed: mk(to), setup: withDeployment,
			status: reject, reason: "Cannot transition flows that are cancelling to a state other than Cancelled.",
		})
	}
	cases = append(cases,
		flowCase{name: "to CANCELLED", initial: was(cancelling), proposed: mk(cancelled), status: accept, write: cancelled},
		flowCase{name: "forced", initial: was(cancelling), proposed: mk(completed), force: true, status: accept, write: completed},
	)
	runFlowCases(t, cases)
}

func TestBypassCancellingFlowRunsWithNoInfra(t *testing.T) {
	const noInfra = "Scheduled flow run has no infrastructure to terminate."
	withPID := func(r *schema.FlowRun) { r.InfrastructurePID = ptr("host:42") }
	suspended := withDetails(func(d *schema.StateDetails) { d.PauseReschedule = true })
	cancelledNow := func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
		require.Equal(t, t0, res.Write.Timestamp)
		require.Equal(t, flowRunID, *res.Write.StateDetails.FlowRunID)
		require.Equal(t, t0, *res.Run.EndTime)
		require.False(t, res.Run.EmpiricalPolicy.Resuming, "HandleResumingPausedFlows never fired")
	}
	cases := []flowCase{
		{name: "scheduled without infrastructure", initial: was(sched), proposed: mk(cancelling),
			status: reject, reason: noInfra, write: cancelled, wname: "Cancelled", check: cancelledNow},
		{name: "scheduled with an empty pid", initial: was(sched), proposed: mk(cancelling),
			setup:  func(r *schema.FlowRun) { r.InfrastructurePID = ptr("") },
			status: reject, reason: noInfra, write: cancelled},
		{name: "scheduled with infrastructure (AwaitingRetry)", initial: was(sched, named("AwaitingRetry")), proposed: mk(cancelling),
			setup: withPID, status: accept, write: cancelling},
		{name: "resuming, even with infrastructure", initial: was(sched, named("Resuming")), proposed: mk(cancelling),
			setup: withPID, status: reject, reason: noInfra, write: cancelled},
		{name: "suspended", initial: was(paused, named("Suspended"), suspended), proposed: mk(cancelling),
			status: reject, reason: "Suspended flow run has no infrastructure to terminate.", write: cancelled, check: cancelledNow},
		// A blocking pause keeps its process: this rule lets the transition
		// through and HandleResumingPausedFlows refuses it.
		{name: "paused in process", initial: was(paused), proposed: mk(cancelling), status: reject,
			reason: "This run cannot transition to the StateType.CANCELLING state from the StateType.PAUSED state."},
		{name: "forced, scheduled", initial: was(sched), proposed: mk(cancelling), force: true,
			status: reject, reason: noInfra, write: cancelled},
		{name: "forced, suspended", initial: was(paused, suspended), proposed: mk(cancelling), force: true,
			status: reject, reason: "Suspended flow run has no infrastructure to terminate.", write: cancelled},
		{name: "forced, paused in process", initial: was(paused), proposed: mk(cancelling), force: true,
			status: accept, write: cancelling},
	}
	for _, from := range []schema.StateType{pending, running} {
		cases = append(cases, flowCase{name: "from " + string(from), initial: was(from), proposed: mk(cancelling),
			status: accept, write: cancelling})
	}
	runFlowCases(t, cases)
}

func TestPreventPendingTransitions(t *testing.T) {
	lease := uuid.New()
	var cases []flowCase
	for _, from := range []schema.StateType{pending, running, cancelled} {
		cases = append(cases, flowCase{
			name: string(from) + " to PENDING", initial: was(from), proposed: mk(pending), status: abort,
			reason: fmt.Sprintf("This run is in a %s state and cannot transition to a PENDING state.", from),
		})
	}
	cases = append(cases, []flowCase{
		{name: "CANCELLING is refused first by EnforceCancellingToCancelledTransition", initial: was(cancelling),
			proposed: mk(pending), status: reject,
			reason: "Cannot transition flows that are cancelling to a state other than Cancelled."},
		{name: "named sub-state", initial: was(pending, scheduledAt(at(-time.Hour)),
			withDetails(func(d *schema.StateDetails) { d.DeploymentConcurrencyLeaseID = &lease })),
			proposed: mk(pending, named("Submitting")), status: accept, write: pending, wname: "Submitting",
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, at(-time.Hour), *res.Write.StateDetails.ScheduledTime)
				require.Equal(t, lease, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			}},
		{name: "sub-state to sub-state", initial: was(pending, named("Submitting")),
			proposed: mk(pending, named("InfrastructurePending")), status: accept, write: pending},
		{name: "same name", initial: was(pending, named("Submitting")), proposed: mk(pending, named("Submitting")),
			status: abort, reason: "This run is in a PENDING state and cannot transition to a PENDING state."},
		{name: "back to Pending", initial: was(pending, named("Submitting")), proposed: mk(pending),
			status: abort, reason: "This run is in a PENDING state and cannot transition to a PENDING state."},
		{name: "SCHEDULED to PENDING", initial: was(sched), proposed: mk(pending), status: accept, write: pending},
		{name: "PAUSED to PENDING is refused by the resume rule", initial: was(paused), proposed: mk(pending), status: reject,
			reason: "This run cannot transition to the StateType.PENDING state from the StateType.PAUSED state."},
		{name: "forced", initial: was(running), proposed: mk(pending), force: true, status: accept, write: pending},
	}...)
	runFlowCases(t, cases)
}

func TestEnsureOnlyScheduledFlowsMarkedLate(t *testing.T) {
	var cases []flowCase
	for _, from := range []schema.StateType{pending, running, completed, failed, cancelled, crashed} {
		cases = append(cases, flowCase{
			name: string(from) + " marked late", initial: was(from), proposed: mk(sched, named("Late")), setup: withDeployment,
			status: reject, reason: "Only scheduled flows can be marked late.",
		})
	}
	cases = append(cases, []flowCase{
		{name: "scheduled marked late", initial: was(sched, scheduledAt(at(-time.Minute))),
			proposed: mk(sched, named("Late"), scheduledAt(at(-time.Minute))), status: accept, write: sched, wname: "Late"},
		{name: "already late", initial: was(sched, named("Late")), proposed: mk(sched, named("Late")),
			status: reject, reason: "This flow run is already marked late."},
		{name: "rescheduled, not late", initial: was(sched, named("Late")), proposed: mk(sched), status: accept, write: sched},
		{name: "running to scheduled, not late", initial: was(running), proposed: mk(sched), status: accept, write: sched},
	}...)
	runFlowCases(t, cases)
}

func TestHandlePausingFlows(t *testing.T) {
	key := func(k string) stateOpt { return withDetails(func(d *schema.StateDetails) { d.PauseKey = &k }) }
	reschedule := withDetails(func(d *schema.StateDetails) { d.PauseReschedule = true })
	keysUnchanged := func(t *testing.T, in schema.FlowRun, res FlowRunResult) {
		require.Equal(t, in.EmpiricalPolicy.PauseKeys, res.Run.EmpiricalPolicy.PauseKeys)
	}
	cases := []flowCase{
		{name: "pause with a key", initial: was(running), proposed: mk(paused, key("k2")),
			setup:  func(r *schema.FlowRun) { r.EmpiricalPolicy.PauseKeys = []string{"k1"} },
			status: accept, write: paused,
			check: func(t *testing.T, in schema.FlowRun, res FlowRunResult) {
				require.Equal(t, []string{"k1", "k2"}, res.Run.EmpiricalPolicy.PauseKeys)
				require.Equal(t, []string{"k1"}, in.EmpiricalPolicy.PauseKeys, "the input is not modified")
			}},
		{name: "pause without a key records a random one", initial: was(running), proposed: mk(paused),
			status: accept, write: paused,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Len(t, res.Run.EmpiricalPolicy.PauseKeys, 1)
				_, err := uuid.Parse(res.Run.EmpiricalPolicy.PauseKeys[0])
				require.NoError(t, err)
			}},
		{name: "a key fires once", initial: was(running), proposed: mk(paused, key("k1")),
			setup:  func(r *schema.FlowRun) { r.EmpiricalPolicy.PauseKeys = []string{"k1"} },
			status: reject, reason: "This pause has already fired.", check: keysUnchanged},
		{name: "a suspension fires once", initial: was(running), proposed: mk(paused, named("Suspended"), key("k1")),
			setup:  func(r *schema.FlowRun) { r.EmpiricalPolicy.PauseKeys = []string{"k1"} },
			status: reject, reason: "This suspend has already fired."},
		{name: "suspend a subflow", initial: was(running), proposed: mk(paused, named("Suspended"), reschedule, key("k")),
			setup:  func(r *schema.FlowRun) { withDeployment(r); r.ParentTaskRunID = ptr(parentTask) },
			status: abort, reason: "Cannot suspend subflows.", check: keysUnchanged},
		{name: "suspend without a deployment", initial: was(running), proposed: mk(paused, named("Suspended"), reschedule),
			status: abort, reason: "Cannot suspend flows without a deployment.", check: keysUnchanged},
		{name: "pause with reschedule without a deployment", initial: was(running), proposed: mk(paused, reschedule),
			status: abort, reason: "Cannot pause flows without a deployment."},
		{name: "suspend a deployed flow", initial: was(running), proposed: mk(paused, named("Suspended"), reschedule, key("s")),
			setup: withDeployment, status: accept, write: paused, wname: "Suspended",
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, []string{"s"}, res.Run.EmpiricalPolicy.PauseKeys)
			}},
		{name: "a blocking pause of a subflow is fine", initial: was(running), proposed: mk(paused),
			setup: func(r *schema.FlowRun) { r.ParentTaskRunID = ptr(parentTask) }, status: accept, write: paused},
		{name: "no state", proposed: mk(paused), status: abort, reason: "Cannot pause flows with no state."},
		{name: "no state, suspend", proposed: mk(paused, named("Suspended")), status: abort, reason: "Cannot suspend flows with no state."},
		{name: "forced pause", initial: was(pending), proposed: mk(paused, key("k")), force: true, status: accept, write: paused,
			check: keysUnchanged},
	}
	for _, from := range []schema.StateType{sched, pending, paused} {
		cases = append(cases, flowCase{name: "from " + string(from), initial: was(from), proposed: mk(paused, key("k")),
			setup: withDeployment, status: reject, reason: "Cannot pause flows that are not currently running.", check: keysUnchanged})
	}
	runFlowCases(t, cases)
}

func TestHandleResumingPausedFlows(t *testing.T) {
	suspended := withDetails(func(d *schema.StateDetails) { d.PauseReschedule = true })
	timeout := func(ts time.Time) stateOpt { return withDetails(func(d *schema.StateDetails) { d.PauseTimeout = &ts }) }
	resuming := func(want bool) func(*testing.T, schema.FlowRun, FlowRunResult) {
		return func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
			require.Equal(t, want, res.Run.EmpiricalPolicy.Resuming)
		}
	}
	cases := []flowCase{
		// The resuming mark is set after the transition, so the in-process
		// resume itself still counts as a run (as in Prefect).
		{name: "resume in process", initial: was(paused, timeout(at(time.Hour))), proposed: mk(running),
			setup: func(r *schema.FlowRun) { r.RunCount = 1 }, status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.True(t, res.Run.EmpiricalPolicy.Resuming)
				require.Equal(t, 2, res.Run.RunCount)
			}},
		{name: "reschedule a suspended run", initial: was(paused, named("Suspended"), suspended),
			proposed: mk(sched, named("Resuming"), scheduledAt(t0)), setup: withDeployment,
			status: accept, write: sched, wname: "Resuming", check: resuming(true)},
		{name: "suspended without a deployment", initial: was(paused, suspended), proposed: mk(sched, named("Resuming")),
			status: reject, reason: "Cannot reschedule a resuming flow run without a deployment.", check: resuming(true)},
		{name: "timed out", initial: was(paused, timeout(at(-time.Second))), proposed: mk(running),
			status: reject, reason: "The flow run pause has timed out and can no longer resume.", write: failed, wname: "Failed",
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, "The flow was running and never resumed.", *res.Write.Message)
				require.True(t, res.Run.EmpiricalPolicy.Resuming, "Prefect's after hook still fires")
				require.Equal(t, t0, *res.Run.EndTime)
			}},
		{name: "suspension timed out", initial: was(paused, suspended, timeout(at(-time.Second))),
			proposed: mk(sched, named("Resuming")), setup: withDeployment,
			status: reject, reason: "The flow run pause has timed out and can no longer resume.", write: failed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, "The flow was resuming and never resumed.", *res.Write.Message)
			}},
		// The mark outlives RemoveResumingIndicator, which runs before the
		// rule's after hook: Prefect leaves a run finished from PAUSED marked.
		{name: "timeout not reached", initial: was(paused, timeout(at(time.Second))), proposed: mk(completed),
			status: accept, write: completed, check: resuming(true)},
		// Refused without writing anything, yet the after hook (whose TO set
		// includes "no state") marks the run resuming, as Prefect does.
		{name: "to PENDING", initial: was(paused), proposed: mk(pending), status: reject,
			reason: "This run cannot transition to the StateType.PENDING state from the StateType.PAUSED state.",
			check:  resuming(true)},
		{name: "to PAUSED is refused by the pausing rule", initial: was(paused), proposed: mk(paused),
			status: reject, reason: "Cannot pause flows that are not currently running.", check: resuming(false)},
		{name: "forced", initial: was(paused, timeout(at(-time.Second))), proposed: mk(running), force: true,
			status: accept, write: running, check: resuming(false)},
	}
	for _, to := range []schema.StateType{sched, running, completed, failed, cancelled, crashed} {
		cases = append(cases, flowCase{name: "to " + string(to), initial: was(paused), proposed: mk(to),
			setup: withDeployment, status: accept, write: to})
	}
	runFlowCases(t, cases)
}

func TestCopyScheduledTime(t *testing.T) {
	runFlowCases(t, []flowCase{
		{name: "copied", initial: was(sched, scheduledAt(at(-time.Hour))), proposed: mk(pending), status: accept, write: pending,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, at(-time.Hour), *res.Write.StateDetails.ScheduledTime)
			}},
		{name: "the proposal's own time wins", initial: was(sched, scheduledAt(at(-time.Hour))),
			proposed: mk(pending, scheduledAt(at(-time.Minute))), status: accept, write: pending,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, at(-time.Minute), *res.Write.StateDetails.ScheduledTime)
			}},
		{name: "not from other states", initial: was(running, scheduledAt(at(-time.Hour))), proposed: mk(sched),
			status: accept, write: sched,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Nil(t, res.Write.StateDetails.ScheduledTime)
			}},
		{name: "not when forced", initial: was(sched, scheduledAt(at(-time.Hour))), proposed: mk(pending), force: true,
			status: accept, write: pending,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Nil(t, res.Write.StateDetails.ScheduledTime)
			}},
	})
}

func TestWaitForScheduledTime(t *testing.T) {
	delay := func(want int) func(*testing.T, schema.FlowRun, FlowRunResult) {
		return func(t *testing.T, in schema.FlowRun, res FlowRunResult) {
			require.Equal(t, want, *res.Details.DelaySeconds)
			require.Equal(t, in, res.Run, "nothing is recorded for a WAIT")
		}
	}
	const future = "Scheduled time is in the future"
	runFlowCases(t, []flowCase{
		{name: "scheduled in the future", initial: was(sched, scheduledAt(at(10*time.Second))), proposed: mk(running),
			status: wait, reason: future, check: delay(10)},
		{name: "pending, rounded up", initial: was(pending, scheduledAt(at(10600*time.Millisecond))), proposed: mk(running),
			status: wait, reason: future, check: delay(11)},
		{name: "half a second away rounds to now", initial: was(pending, scheduledAt(at(500*time.Millisecond))),
			proposed: mk(running), status: accept, write: running},
		{name: "due", initial: was(sched, scheduledAt(t0)), proposed: mk(running), status: accept, write: running},
		{name: "overdue", initial: was(sched, scheduledAt(at(-time.Hour))), proposed: mk(running), status: accept, write: running},
		{name: "no scheduled time", initial: was(pending), proposed: mk(running), status: accept, write: running},
		{name: "forced", initial: was(sched, scheduledAt(at(time.Hour))), proposed: mk(running), force: true,
			status: accept, write: running},
	})
}

func TestRetryFailedFlows(t *testing.T) {
	retries := func(n int, delay *float64, runCount int) func(*schema.FlowRun) {
		return func(r *schema.FlowRun) {
			r.EmpiricalPolicy.Retries, r.EmpiricalPolicy.RetryDelay, r.RunCount = &n, delay, runCount
			r.EmpiricalPolicy.PauseKeys = []string{"k"}
			r.EmpiricalPolicy.RetryType = ptr("reschedule")
		}
	}
	failure := mk(failed, withMessage("boom"), withData(persisted))
	awaiting := func(after time.Duration) func(*testing.T, schema.FlowRun, FlowRunResult) {
		return func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
			w := res.Write
			require.Equal(t, t0.Add(after), *w.StateDetails.ScheduledTime)
			require.Equal(t, "boom", *w.Message)
			require.JSONEq(t, persisted, string(*w.Data))
			require.NotEqual(t, failure.ID, w.ID)
			p := res.Run.EmpiricalPolicy
			require.Equal(t, ptr("in_process"), p.RetryType)
			require.Equal(t, []string{}, p.PauseKeys)
			require.False(t, p.Resuming)
			require.Equal(t, t0.Add(after), *res.Run.NextScheduledStartTime)
			require.Nil(t, res.Run.EndTime, "AwaitingRetry is not final")
		}
	}
	exhausted := func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
		require.Nil(t, res.Run.EmpiricalPolicy.RetryType)
		require.Equal(t, []string{"k"}, res.Run.EmpiricalPolicy.PauseKeys)
	}
	runFlowCases(t, []flowCase{
		{name: "first failure", initial: was(running), proposed: failure, setup: retries(2, ptr(5.0), 1),
			status: reject, reason: "Retrying", write: sched, wname: "AwaitingRetry", check: awaiting(5 * time.Second)},
		{name: "last retry", initial: was(running), proposed: failure, setup: retries(2, ptr(0.5), 2),
			status: reject, reason: "Retrying", write: sched, wname: "AwaitingRetry", check: awaiting(500 * time.Millisecond)},
		{name: "no delay", initial: was(running), proposed: failure, setup: retries(1, nil, 1),
			status: reject, reason: "Retrying", write: sched, check: awaiting(0)},
		{name: "legacy max_retries", initial: was(running), proposed: failure,
			setup: func(r *schema.FlowRun) {
				r.RunCount, r.EmpiricalPolicy.MaxRetries, r.EmpiricalPolicy.RetryDelaySeconds = 1, 1, 3
				r.EmpiricalPolicy.PauseKeys = []string{"k"}
			},
			status: reject, reason: "Retrying", write: sched, check: awaiting(3 * time.Second)},
		{name: "exhausted", initial: was(running), proposed: failure, setup: retries(2, ptr(5.0), 3),
			status: accept, write: failed, check: exhausted},
		{name: "zero retries", initial: was(running), proposed: failure, setup: retries(0, nil, 1),
			status: accept, write: failed, check: exhausted},
		{name: "no retries set", initial: was(running), proposed: failure,
			setup:  func(r *schema.FlowRun) { r.RunCount = 1; r.EmpiricalPolicy.RetryType = ptr("in_process") },
			status: accept, write: failed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Nil(t, res.Run.EmpiricalPolicy.RetryType)
			}},
		{name: "only from RUNNING", initial: was(pending), proposed: failure, setup: retries(2, nil, 1),
			status: accept, write: failed},
		{name: "forced", initial: was(running), proposed: failure, force: true, setup: retries(2, nil, 1),
			status: accept, write: failed},
	})
}
