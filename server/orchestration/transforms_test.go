package orchestration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestGlobalFlowTransforms(t *testing.T) {
	earlier := at(-time.Hour)
	runFlowCases(t, []flowCase{
		{name: "state fields follow the written state", initial: was(pending), proposed: mk(running, named("Go")),
			status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				r, w := res.Run, res.Write
				require.Equal(t, running, *r.StateType)
				require.Equal(t, "Go", *r.StateName)
				require.Equal(t, w.ID, *r.StateID)
				require.Equal(t, *w, *r.State)
				require.Equal(t, flowRunID, *w.StateDetails.FlowRunID)
				require.Nil(t, w.StateDetails.TaskRunID)
			}},
		{name: "start time on first RUNNING", initial: was(pending), proposed: mk(running), status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, t0, *res.Run.StartTime)
				require.Equal(t, 1, res.Run.RunCount)
			}},
		{name: "start time kept on a rerun", initial: was(sched, named("AwaitingRetry")), proposed: mk(running),
			setup: func(r *schema.FlowRun) { r.StartTime = &earlier; r.RunCount = 1 }, status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, earlier, *res.Run.StartTime)
				require.Equal(t, 2, res.Run.RunCount)
			}},
		{name: "end time and run time on finishing", initial: was(running, stamped(at(-42*time.Second))), proposed: mk(completed),
			setup:  func(r *schema.FlowRun) { r.StartTime = ptr(at(-42 * time.Second)); r.TotalRunTime = 8 },
			status: accept, write: completed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, t0, *res.Run.EndTime)
				require.InDelta(t, 50.0, res.Run.TotalRunTime, 1e-9)
				require.Equal(t, at(-42*time.Second), *res.Run.StartTime)
			}},
		{name: "failing before starting sets the start time too", initial: was(pending), proposed: mk(failed),
			status: accept, write: failed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, t0, *res.Run.StartTime)
				require.Equal(t, t0, *res.Run.EndTime)
				require.Zero(t, res.Run.TotalRunTime)
			}},
		{name: "end time kept from final to final", initial: was(completed), proposed: mk(failed), force: true,
			setup:  func(r *schema.FlowRun) { r.EndTime = &earlier; r.StartTime = &earlier },
			status: accept, write: failed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) { require.Equal(t, earlier, *res.Run.EndTime) }},
		{name: "end time cleared leaving a final state", initial: was(failed), proposed: mk(running), force: true,
			setup:  func(r *schema.FlowRun) { r.EndTime = &earlier; r.StartTime = &earlier },
			status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) { require.Nil(t, res.Run.EndTime) }},
		{name: "run time only when leaving RUNNING", initial: was(pending, stamped(at(-42*time.Second))), proposed: mk(completed),
			status: accept, write: completed,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) { require.Zero(t, res.Run.TotalRunTime) }},
		{name: "expected start from a first Scheduled state", proposed: mk(sched, scheduledAt(at(time.Hour))), force: true,
			status: accept, write: sched,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, at(time.Hour), *res.Run.ExpectedStartTime)
				require.Equal(t, at(time.Hour), *res.Run.NextScheduledStartTime)
				require.Equal(t, 0, res.Run.RunCount)
				require.Nil(t, res.Run.StartTime)
			}},
		{name: "expected start from a first other state", proposed: mk(pending), force: true, status: accept, write: pending,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, t0, *res.Run.ExpectedStartTime)
				require.Nil(t, res.Run.NextScheduledStartTime)
			}},
		{name: "expected start kept", initial: was(sched), proposed: mk(sched, scheduledAt(at(time.Hour))),
			setup:  func(r *schema.FlowRun) { r.ExpectedStartTime = &earlier; r.NextScheduledStartTime = &earlier },
			status: accept, write: sched,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, earlier, *res.Run.ExpectedStartTime)
				require.Equal(t, at(time.Hour), *res.Run.NextScheduledStartTime, "rescheduling moves it")
			}},
		{name: "next scheduled start cleared leaving SCHEDULED", initial: was(sched), proposed: mk(pending),
			setup:  func(r *schema.FlowRun) { r.NextScheduledStartTime = &earlier },
			status: accept, write: pending,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Nil(t, res.Run.NextScheduledStartTime)
			}},
		{name: "subflow states point at the parent task run", initial: was(pending), proposed: mk(running),
			setup: func(r *schema.FlowRun) { r.ParentTaskRunID = ptr(parentTask) }, status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, parentTask, *res.Write.StateDetails.TaskRunID)
				require.Equal(t, parentTask, *res.Run.State.StateDetails.TaskRunID)
			}},
		{name: "subflow details on a rejection's replacement", initial: was(running), proposed: mk(failed),
			setup: func(r *schema.FlowRun) {
				r.ParentTaskRunID = ptr(parentTask)
				r.EmpiricalPolicy.Retries, r.RunCount = ptr(1), 1
			},
			status: reject, reason: "Retrying", write: sched,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, parentTask, *res.Write.StateDetails.TaskRunID)
				require.Equal(t, flowRunID, *res.Write.StateDetails.FlowRunID)
			}},
		{name: "resuming: the start is not a new attempt", initial: was(pending), proposed: mk(running),
			setup:  func(r *schema.FlowRun) { r.EmpiricalPolicy.Resuming = true; r.RunCount = 1 },
			status: accept, write: running,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.Equal(t, 1, res.Run.RunCount)
				require.False(t, res.Run.EmpiricalPolicy.Resuming)
			}},
		{name: "resuming cleared on a final state", initial: was(sched), proposed: mk(cancelled), force: true,
			setup:  func(r *schema.FlowRun) { r.EmpiricalPolicy.Resuming = true },
			status: accept, write: cancelled,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.False(t, res.Run.EmpiricalPolicy.Resuming)
			}},
		{name: "resuming kept on the way to RUNNING", initial: was(sched, named("Resuming")), proposed: mk(pending),
			setup:  func(r *schema.FlowRun) { r.EmpiricalPolicy.Resuming = true },
			status: accept, write: pending,
			check: func(t *testing.T, _ schema.FlowRun, res FlowRunResult) {
				require.True(t, res.Run.EmpiricalPolicy.Resuming)
			}},
		{name: "nothing recorded when aborted", initial: was(running, stamped(at(-time.Minute))), proposed: mk(pending),
			status: abort, reason: "This run is in a RUNNING state and cannot transition to a PENDING state.",
			check: func(t *testing.T, in schema.FlowRun, res FlowRunResult) { require.Equal(t, in, res.Run) }},
	})
}

func TestGlobalTaskTransforms(t *testing.T) {
	runTaskCases(t, []taskCase{
		{name: "state fields and details", initial: was(pending), proposed: mk(running), status: accept, write: running,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				r, w := res.Run, res.Write
				require.Equal(t, running, *r.StateType)
				require.Equal(t, "Running", *r.StateName)
				require.Equal(t, w.ID, *r.StateID)
				require.Equal(t, *w, *r.State)
				require.Equal(t, taskRunID, *w.StateDetails.TaskRunID)
				require.Equal(t, flowRunID, *w.StateDetails.FlowRunID)
				require.Equal(t, 1, r.RunCount)
				require.Equal(t, t0, *r.StartTime)
				require.Equal(t, t0, *r.ExpectedStartTime)
			}},
		{name: "a task without a flow", initial: was(pending), proposed: mk(running,
			withDetails(func(d *schema.StateDetails) { d.FlowRunID = ptr(parentTask) })), noFlow: true,
			status: accept, write: running,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				require.Nil(t, res.Write.StateDetails.FlowRunID, "the run's (absent) flow run wins")
			}},
		{name: "run time and end time", initial: was(running, stamped(at(-1500*time.Millisecond))), proposed: mk(completed),
			setup: func(r *schema.TaskRun) { r.TotalRunTime = 1 }, status: accept, write: completed,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				require.InDelta(t, 2.5, res.Run.TotalRunTime, 1e-9)
				require.Equal(t, t0, *res.Run.EndTime)
			}},
		{name: "forced initial scheduled state", proposed: mk(sched, scheduledAt(at(time.Minute))), force: true,
			status: accept, write: sched,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				require.Equal(t, at(time.Minute), *res.Run.ExpectedStartTime)
				require.Equal(t, at(time.Minute), *res.Run.NextScheduledStartTime)
				require.Equal(t, 0, res.Run.RunCount)
			}},
		{name: "forced RUNNING counts", initial: was(running), proposed: mk(running), force: true,
			setup: func(r *schema.TaskRun) { r.RunCount = 4 }, status: accept, write: running,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) { require.Equal(t, 5, res.Run.RunCount) }},
	})
}

// TestInputsNotModified checks that the caller's run and proposal are left
// alone, including slices and the details of states.
func TestInputsNotModified(t *testing.T) {
	run := newFlowRun(was(running, named("Before")))
	run.EmpiricalPolicy.PauseKeys = make([]string, 1, 8) // spare capacity must not be written
	run.EmpiricalPolicy.PauseKeys[0] = "old"
	run.EmpiricalPolicy.Retries = ptr(1)
	run.RunCount = 1
	proposed := mk(paused, withDetails(func(d *schema.StateDetails) { d.PauseKey = ptr("new") }))
	snapRun, snapProposed := run, proposed
	snapState := *run.State
	res := FlowRun(FlowRunContext{Run: run, Proposed: proposed, Now: t0})
	require.Equal(t, accept, res.Status)
	require.Equal(t, []string{"old", "new"}, res.Run.EmpiricalPolicy.PauseKeys)
	require.Equal(t, snapRun, run)
	require.Equal(t, []string{"old"}, run.EmpiricalPolicy.PauseKeys)
	require.Equal(t, "old", run.EmpiricalPolicy.PauseKeys[:2][0])
	require.Empty(t, run.EmpiricalPolicy.PauseKeys[:2][1], "the backing array is untouched")
	require.Equal(t, snapProposed, proposed)
	require.Nil(t, proposed.StateDetails.FlowRunID)
	require.Equal(t, snapState, *run.State)

	// A rejection that replaces the state leaves the input run alone too.
	again := res.Run
	again.State = was(running)
	failedRes := FlowRun(FlowRunContext{Run: again, Proposed: mk(failed), Now: t0})
	require.Equal(t, reject, failedRes.Status)
	require.Equal(t, []string{"old", "new"}, res.Run.EmpiricalPolicy.PauseKeys)
	require.Equal(t, []string{}, failedRes.Run.EmpiricalPolicy.PauseKeys)

	task := newTaskRun(was(failed))
	task.RunCount = 3
	taskSnap := task
	fr := runningFlow(2)
	frSnap := *fr
	tres := TaskRun(TaskRunContext{Run: task, Proposed: mk(running), Now: t0, FlowRun: fr})
	require.Equal(t, "Retrying", tres.Write.Name)
	require.Equal(t, taskSnap, task)
	require.Equal(t, frSnap, *fr)
}
