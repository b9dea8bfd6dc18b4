package orchestration

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

// step is one set_state call in a client path: the proposal is stamped at
// the step's time, the verdict checked, and the resulting run carried on.
type step struct {
	at       time.Duration
	proposed schema.State
	force    bool
	status   schema.OrchestrationStatus
	reason   string
	write    schema.StateType
	wname    string
	check    func(t *testing.T, r schema.FlowRun, res Result)
}

func playFlow(t *testing.T, run schema.FlowRun, steps []step) schema.FlowRun {
	t.Helper()
	for i, s := range steps {
		now := at(s.at)
		p := s.proposed
		p.Timestamp = now
		res := FlowRun(FlowRunContext{Run: run, Proposed: p, Force: s.force, Now: now})
		t.Logf("step %d: %s -> %s %q: %s", i, typeOf(run.State), p.Type, p.Name, res.Status)
		requireVerdict(t, res.Result, s.status, s.reason, s.write, s.wname)
		run = res.Run
		if s.check != nil {
			s.check(t, run, res.Result)
		}
	}
	return run
}

func TestLocalFlowRun(t *testing.T) {
	run := playFlow(t, newFlowRun(nil), []step{
		{at: 0, proposed: mk(pending), force: true, status: accept, write: pending,
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Equal(t, t0, *r.ExpectedStartTime)
				require.Nil(t, r.StartTime)
			}},
		{at: time.Second, proposed: mk(running), status: accept, write: running, wname: "Running",
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Equal(t, 1, r.RunCount)
				require.Equal(t, at(time.Second), *r.StartTime)
			}},
		{at: 3 * time.Second, proposed: mk(completed, withData(persisted)), status: accept, write: completed},
	})
	require.Equal(t, at(3*time.Second), *run.EndTime)
	require.InDelta(t, 2.0, run.TotalRunTime, 1e-9)
	require.Equal(t, completed, *run.StateType)
}

func TestFlowRetries(t *testing.T) {
	run := newFlowRun(nil)
	run.EmpiricalPolicy.Retries, run.EmpiricalPolicy.RetryDelay = ptr(1), ptr(10.0)
	awaitingAt := at(12 * time.Second)
	run = playFlow(t, run, []step{
		{at: 0, proposed: mk(pending), force: true, status: accept, write: pending},
		{at: time.Second, proposed: mk(running), status: accept, write: running},
		{at: 2 * time.Second, proposed: mk(failed, withMessage("boom")), status: reject, reason: "Retrying",
			write: sched, wname: "AwaitingRetry",
			check: func(t *testing.T, r schema.FlowRun, res Result) {
				require.Equal(t, awaitingAt, *res.Write.StateDetails.ScheduledTime)
				require.Equal(t, "boom", *res.Write.Message)
				require.Equal(t, ptr("in_process"), r.EmpiricalPolicy.RetryType)
				require.InDelta(t, 1.0, r.TotalRunTime, 1e-9)
				require.Nil(t, r.EndTime)
				require.Equal(t, awaitingAt, *r.NextScheduledStartTime)
			}},
		// The engine proposes RUNNING straight away and is told to wait.
		{at: 3 * time.Second, proposed: mk(running), status: wait, reason: "Scheduled time is in the future",
			check: func(t *testing.T, r schema.FlowRun, res Result) {
				require.Equal(t, 9, *res.Details.DelaySeconds)
				require.Equal(t, 1, r.RunCount)
			}},
		// No flow rule renames the rerun: CoreFlowPolicy has no
		// RenameReruns, and the flow engine proposes a plain Running.
		{at: 12 * time.Second, proposed: mk(running), status: accept, write: running, wname: "Running",
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Equal(t, 2, r.RunCount)
				require.Equal(t, at(time.Second), *r.StartTime, "the first start is kept")
				require.Nil(t, r.NextScheduledStartTime)
			}},
		{at: 15 * time.Second, proposed: mk(failed), status: accept, write: failed,
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Nil(t, r.EmpiricalPolicy.RetryType)
				require.InDelta(t, 4.0, r.TotalRunTime, 1e-9, "1 s + 3 s of running")
				require.Equal(t, at(15*time.Second), *r.EndTime)
			}},
	})
	require.Equal(t, failed, *run.StateType)
}

func TestDuplicateTransition(t *testing.T) {
	tid := uuid.New()
	withTID := withDetails(func(d *schema.StateDetails) { d.TransitionID = &tid })
	var written schema.State
	playFlow(t, newFlowRun(was(pending)), []step{
		{at: 0, proposed: mk(running, withTID), status: accept, write: running,
			check: func(t *testing.T, r schema.FlowRun, _ Result) { written = *r.State }},
		// The retried request: nothing new is written, the client gets the
		// run's current state back.
		{at: time.Second, proposed: mk(running, withTID), status: reject,
			reason: "This run has already made this state transition.",
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Equal(t, written, *r.State)
				require.Equal(t, 1, r.RunCount)
			}},
	})
}

func TestDeploymentSubmission(t *testing.T) {
	run := newFlowRun(nil)
	run.DeploymentID = ptr(deployment)
	playFlow(t, run, []step{
		{at: 0, proposed: mk(sched, scheduledAt(at(time.Minute))), force: true, status: accept, write: sched,
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Equal(t, at(time.Minute), *r.ExpectedStartTime)
				require.Equal(t, at(time.Minute), *r.NextScheduledStartTime)
			}},
		{at: 30 * time.Second, proposed: mk(pending), status: accept, write: pending,
			check: func(t *testing.T, r schema.FlowRun, res Result) {
				require.Equal(t, at(time.Minute), *res.Write.StateDetails.ScheduledTime)
				require.Nil(t, r.NextScheduledStartTime)
			}},
		{at: 31 * time.Second, proposed: mk(pending), status: abort,
			reason: "This run is in a PENDING state and cannot transition to a PENDING state."},
		{at: 32 * time.Second, proposed: mk(running), status: wait, reason: "Scheduled time is in the future",
			check: func(t *testing.T, _ schema.FlowRun, res Result) { require.Equal(t, 28, *res.Details.DelaySeconds) }},
		{at: time.Minute, proposed: mk(running), status: accept, write: running},
		{at: 61 * time.Second, proposed: mk(pending), status: abort,
			reason: "This run is in a RUNNING state and cannot transition to a PENDING state."},
	})
}

func TestCancellation(t *testing.T) {
	// From the UI, a scheduled run has nothing to tear down.
	playFlow(t, newFlowRun(was(sched)), []step{
		{proposed: mk(cancelling), status: reject, reason: "Scheduled flow run has no infrastructure to terminate.",
			write: cancelled, wname: "Cancelled"},
	})
	// A running one goes through Cancelling, which only Cancelled may end.
	run := newFlowRun(was(running))
	run.RunCount = 1
	playFlow(t, run, []step{
		{proposed: mk(cancelling), status: accept, write: cancelling},
		{at: time.Second, proposed: mk(completed), status: reject,
			reason: "Cannot transition flows that are cancelling to a state other than Cancelled."},
		{at: 2 * time.Second, proposed: mk(cancelled), force: true, status: accept, write: cancelled,
			check: func(t *testing.T, r schema.FlowRun, _ Result) { require.Equal(t, at(2*time.Second), *r.EndTime) }},
		{at: 3 * time.Second, proposed: mk(crashed), status: abort, reason: "Run is already in terminal state CANCELLED."},
	})
}

func TestCrashAndLate(t *testing.T) {
	playFlow(t, newFlowRun(was(running)), []step{
		{proposed: mk(crashed), force: true, status: accept, write: crashed},
	})
	playFlow(t, newFlowRun(was(sched, scheduledAt(at(-time.Minute)))), []step{
		{proposed: mk(sched, named("Late"), scheduledAt(at(-time.Minute))), status: accept, write: sched, wname: "Late"},
		{proposed: mk(sched, named("Late"), scheduledAt(at(-time.Minute))), status: reject,
			reason: "This flow run is already marked late."},
	})
}

func TestPauseAndResume(t *testing.T) {
	key := withDetails(func(d *schema.StateDetails) { d.PauseKey = ptr("step-1") })
	run := newFlowRun(was(running))
	run.RunCount = 1
	playFlow(t, run, []step{
		{proposed: mk(paused, key), status: accept, write: paused,
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Equal(t, []string{"step-1"}, r.EmpiricalPolicy.PauseKeys)
			}},
		// Resuming in process (the API's resume_flow_run proposes Running).
		{at: time.Second, proposed: mk(running), status: accept, write: running,
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.True(t, r.EmpiricalPolicy.Resuming)
			}},
		{at: 2 * time.Second, proposed: mk(paused, key), status: reject, reason: "This pause has already fired."},
		{at: 3 * time.Second, proposed: mk(completed), status: accept, write: completed,
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.False(t, r.EmpiricalPolicy.Resuming)
				// A minute before the pause plus two seconds after it.
				require.InDelta(t, 62.0, r.TotalRunTime, 1e-9, "paused time is not run time")
			}},
	})
}

func TestSuspendAndResume(t *testing.T) {
	run := newFlowRun(was(running))
	run.RunCount, run.DeploymentID, run.InfrastructurePID = 1, ptr(deployment), ptr("pid")
	suspend := mk(paused, named("Suspended"), withDetails(func(d *schema.StateDetails) {
		d.PauseReschedule, d.PauseKey = true, ptr("s")
	}))
	playFlow(t, run, []step{
		{proposed: suspend, status: accept, write: paused, wname: "Suspended"},
		{at: time.Minute, proposed: mk(sched, named("Resuming"), scheduledAt(at(time.Minute))), status: accept, write: sched,
			check: func(t *testing.T, r schema.FlowRun, _ Result) { require.True(t, r.EmpiricalPolicy.Resuming) }},
		{at: 2 * time.Minute, proposed: mk(pending), status: accept, write: pending},
		{at: 3 * time.Minute, proposed: mk(running), status: accept, write: running,
			check: func(t *testing.T, r schema.FlowRun, _ Result) {
				require.Equal(t, 1, r.RunCount, "a resumed suspension is the same attempt")
				require.False(t, r.EmpiricalPolicy.Resuming)
			}},
	})
}

func TestTaskRetries(t *testing.T) {
	run := newTaskRun(nil)
	retries := 1
	run.EmpiricalPolicy.Retries, run.EmpiricalPolicy.RetryDelay = &retries, []byte(`[5]`)
	fr := runningFlow(1)
	propose := func(now time.Duration, s schema.State, force bool) TaskRunResult {
		s.Timestamp = at(now)
		res := TaskRun(TaskRunContext{Run: run, Proposed: s, Force: force, Now: at(now), FlowRun: fr})
		run = res.Run
		return res
	}
	res := propose(0, mk(pending), true)
	requireVerdict(t, res.Result, accept, "", pending, "")
	res = propose(time.Second, mk(running), false)
	requireVerdict(t, res.Result, accept, "", running, "Running")
	require.Equal(t, 1, run.RunCount)
	require.Equal(t, 1, run.FlowRunRunCount)
	res = propose(2*time.Second, mk(failed), false)
	requireVerdict(t, res.Result, reject, "Retrying", sched, "AwaitingRetry")
	require.Equal(t, at(7*time.Second), *res.Write.StateDetails.ScheduledTime)
	res = propose(3*time.Second, mk(running, named("Retrying")), false)
	requireVerdict(t, res.Result, wait, "Scheduled time is in the future", "", "")
	require.Equal(t, 4, *res.Details.DelaySeconds)
	res = propose(7*time.Second, mk(running), false)
	requireVerdict(t, res.Result, accept, "", running, "Retrying")
	require.Equal(t, 2, run.RunCount)
	res = propose(8*time.Second, mk(failed), false)
	requireVerdict(t, res.Result, accept, "", failed, "")
	require.InDelta(t, 2.0, run.TotalRunTime, 1e-9)

	// The flow retries: its next attempt reruns the failed task afresh.
	fr = runningFlow(2)
	res = propose(20*time.Second, mk(running), false)
	requireVerdict(t, res.Result, accept, "", running, "Retrying")
	require.Equal(t, 1, run.RunCount)
	require.Equal(t, 2, run.FlowRunRunCount)
	require.Nil(t, run.EndTime)
}
