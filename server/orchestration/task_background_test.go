package orchestration

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

var deferred = withDetails(func(d *schema.StateDetails) { d.Deferred = true })

func enqueued(retry bool) func(*testing.T, schema.TaskRun, TaskRunResult) {
	return func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
		require.Equal(t, &TaskRunEnqueue{Retry: retry}, res.Enqueue)
	}
}

func notEnqueued(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
	require.Nil(t, res.Enqueue)
}

// TestBackgroundTaskPolicy: a deferred proposed state takes Prefect's
// BackgroundTaskPolicy, forced or not, and a deferred Scheduled state that
// is written is queued for the task workers (retries first); nothing else is.
func TestBackgroundTaskPolicy(t *testing.T) {
	params := uuid.New()
	withParams := withDetails(func(d *schema.StateDetails) { d.TaskParametersID = &params })
	runTaskCases(t, []taskCase{
		{name: "a new deferred run is queued", proposed: mk(sched, deferred), force: true, noFlow: true,
			status: accept, write: sched, check: enqueued(false)},
		{name: "unforced too", initial: was(pending), proposed: mk(sched, deferred),
			status: accept, write: sched, check: enqueued(false)},
		{name: "AwaitingRetry goes first", initial: was(running), proposed: mk(sched, named("AwaitingRetry"), deferred),
			status: accept, write: sched, wname: "AwaitingRetry", check: enqueued(true)},
		{name: "not deferred: not queued", proposed: mk(sched), force: true,
			status: accept, write: sched, check: notEnqueued},
		{name: "not deferred, unforced: not queued", initial: was(pending), proposed: mk(sched),
			status: accept, write: sched, check: notEnqueued},
		{name: "refused: not queued", initial: was(completed, withData(persisted)), proposed: mk(sched, deferred),
			status: reject, reason: "This run is already completed.", check: notEnqueued},
		{name: "other states are not queued", initial: was(sched, deferred), proposed: mk(running, deferred),
			status: accept, write: running, check: notEnqueued},
		{name: "a second submission is aborted", initial: was(pending), proposed: mk(pending, deferred),
			status: abort, reason: "This run is in a PENDING state and cannot transition to a PENDING state.", check: notEnqueued},
		{name: "the parameters' id travels to Pending", initial: was(sched, deferred, withParams, scheduledAt(at(-time.Hour))),
			proposed: mk(pending, deferred), status: accept, write: pending,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				require.Equal(t, params, *res.Write.StateDetails.TaskParametersID)
				require.Equal(t, at(-time.Hour), *res.Write.StateDetails.ScheduledTime)
			}},
		{name: "and to Running", initial: was(pending, withParams), proposed: mk(running, deferred), status: accept, write: running,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				require.Equal(t, params, *res.Write.StateDetails.TaskParametersID)
			}},
		{name: "a stopped parent flow does not hold it", initial: was(sched), proposed: mk(running, deferred),
			flowRun: flowIn(completed, 1), status: accept, write: running},
		{name: "the core policy still checks the parent", initial: was(sched), proposed: mk(running),
			flowRun: flowIn(completed, 1), status: abort, reason: "The enclosing flow must be running to begin task execution."},
	})
}
