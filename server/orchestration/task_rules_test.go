package orchestration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func cacheKey(k string) stateOpt {
	return withDetails(func(d *schema.StateDetails) { d.CacheKey = &k })
}

func flowIn(typ schema.StateType, runCount int, opts ...stateOpt) *schema.FlowRun {
	fr := newFlowRun(was(typ, opts...))
	fr.RunCount = runCount
	return &fr
}

func TestCacheRetrieval(t *testing.T) {
	otherTask := uuid.New()
	cached := mk(completed, stamped(at(-time.Hour)), withData(persisted), cacheKey("k"),
		withDetails(func(d *schema.StateDetails) { d.TaskRunID = &otherTask }))
	refresh := withDetails(func(d *schema.StateDetails) { d.RefreshCache = ptr(true) })
	runTaskCases(t, []taskCase{
		{name: "hit", initial: was(pending), proposed: mk(running, cacheKey("k")), cached: &cached,
			status: reject, reason: "Retrieved state from cache", write: completed, wname: "Cached",
			check: func(t *testing.T, in schema.TaskRun, res TaskRunResult) {
				w := res.Write
				require.NotEqual(t, cached.ID, w.ID, "a fresh copy")
				require.Equal(t, t0, w.Timestamp)
				require.JSONEq(t, persisted, string(*w.Data))
				require.Equal(t, taskRunID, *w.StateDetails.TaskRunID, "now this run's state")
				require.Equal(t, "Completed", cached.Name, "the cached state is not modified")
				require.Equal(t, 0, res.Run.RunCount)
				require.Equal(t, t0, *res.Run.EndTime)
				require.Nil(t, res.Cache, "a cache hit is not cached again")
				require.Equal(t, 0, res.Run.FlowRunRunCount, "the RUNNING-only rules fizzled")
			}},
		{name: "refresh requested", initial: was(pending), proposed: mk(running, cacheKey("k"), refresh), cached: &cached,
			status: accept, write: running},
		{name: "refresh explicitly off", initial: was(pending), cached: &cached,
			proposed: mk(running, cacheKey("k"), withDetails(func(d *schema.StateDetails) { d.RefreshCache = ptr(false) })),
			status:   reject, reason: "Retrieved state from cache", write: completed},
		{name: "no key", initial: was(pending), proposed: mk(running), cached: &cached, status: accept, write: running},
		{name: "miss", initial: was(pending), proposed: mk(running, cacheKey("k")), status: accept, write: running},
		{name: "forced", initial: was(pending), proposed: mk(running, cacheKey("k")), cached: &cached, force: true,
			status: accept, write: running},
	})
}

func TestHandleTaskTerminalStateTransitions(t *testing.T) {
	var cases []taskCase
	for _, from := range terminalTypes {
		for _, to := range []schema.StateType{crashed, cancelling, paused} {
			cases = append(cases, taskCase{
				name: fmt.Sprintf("%s to %s", from, to), initial: was(from), proposed: mk(to),
				status: abort, reason: fmt.Sprintf("Run is already %s.", from),
			})
		}
	}
	runCount := func(n, flowAttempt int) func(*schema.TaskRun) {
		return func(r *schema.TaskRun) { r.RunCount, r.FlowRunRunCount = n, flowAttempt }
	}
	counts := func(runCount, flowAttempt int) func(*testing.T, schema.TaskRun, TaskRunResult) {
		return func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
			require.Equal(t, runCount, res.Run.RunCount)
			require.Equal(t, flowAttempt, res.Run.FlowRunRunCount)
		}
	}
	cases = append(cases, []taskCase{
		{name: "persisted COMPLETED to RUNNING", initial: was(completed, withData(persisted)), proposed: mk(running),
			status: reject, reason: "This run is already completed."},
		{name: "persisted COMPLETED to COMPLETED", initial: was(completed, withData(persisted)),
			proposed: mk(completed, withData(persisted)), status: reject, reason: "This run is already completed."},
		{name: "unpersisted COMPLETED to RUNNING", initial: was(completed, withData(`{"type":"unpersisted"}`)),
			proposed: mk(running), setup: runCount(1, 1), status: accept, write: running, wname: "Running",
			check: counts(1, 1)},
		// The run count restarts, so retries restart and RenameReruns (which
		// sees 0) leaves the name alone.
		{name: "rerun in the same flow attempt", initial: was(failed), proposed: mk(running), setup: runCount(3, 1),
			status: accept, write: running, wname: "Running", check: counts(1, 1)},
		{name: "rerun by a flow retry", initial: was(failed), proposed: mk(running), setup: runCount(2, 1),
			flowRun: runningFlow(2), status: accept, write: running, wname: "Retrying", check: counts(1, 2)},
		{name: "to a scheduled retry", initial: was(crashed), proposed: mk(sched, named("AwaitingRetry")), setup: runCount(2, 1),
			status: accept, write: sched, check: counts(0, 1)},
		{name: "final to final keeps the count", initial: was(failed), proposed: mk(completed), setup: runCount(2, 1),
			status: accept, write: completed, check: counts(2, 1)},
		// A later rejection fizzles the rule and restores the run count.
		{name: "fizzled by a paused flow", initial: was(failed), proposed: mk(running), setup: runCount(3, 1),
			flowRun: flowIn(paused, 2), status: reject, write: paused, wname: "NotReady",
			reason: fmt.Sprintf("The flow is paused, new tasks can execute after resuming flow run: %s.", flowRunID),
			check:  counts(3, 1)},
		{name: "fizzled by a stopped flow", initial: was(failed), proposed: mk(running), setup: runCount(3, 1),
			flowRun: flowIn(completed, 1), status: abort,
			reason: "The enclosing flow must be running to begin task execution.", check: counts(3, 1)},
		{name: "forced", initial: was(completed, withData(persisted)), proposed: mk(crashed), force: true,
			status: accept, write: crashed},
	}...)
	runTaskCases(t, cases)
}

func TestPreventRunningTasksFromStoppedFlows(t *testing.T) {
	const stopped = "The enclosing flow must be running to begin task execution."
	var cases []taskCase
	for _, typ := range typesExcept(running, paused) {
		cases = append(cases, taskCase{name: "flow " + string(typ), initial: was(pending), proposed: mk(running),
			flowRun: flowIn(typ, 1), status: abort, reason: stopped})
	}
	noState := newFlowRun(nil)
	pauseTimeout := at(time.Hour)
	cases = append(cases, []taskCase{
		{name: "flow running", initial: was(pending), proposed: mk(running), status: accept, write: running},
		{name: "no flow run", initial: was(pending), proposed: mk(running), noFlow: true, status: accept, write: running},
		{name: "flow without a state", initial: was(pending), proposed: mk(running), flowRun: &noState,
			status: abort, reason: stopped},
		{name: "flow paused", initial: was(pending), proposed: mk(running),
			flowRun: flowIn(paused, 1, withDetails(func(d *schema.StateDetails) {
				d.PauseTimeout, d.PauseReschedule, d.PauseKey = &pauseTimeout, true, ptr("k")
			})),
			status: reject, write: paused, wname: "NotReady",
			reason: fmt.Sprintf("The flow is paused, new tasks can execute after resuming flow run: %s.", flowRunID),
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				d := res.Write.StateDetails
				require.Equal(t, pauseTimeout, *d.PauseTimeout)
				require.True(t, d.PauseReschedule)
				require.Nil(t, d.PauseKey)
				require.Equal(t, taskRunID, *d.TaskRunID)
				require.Equal(t, 0, res.Run.RunCount)
			}},
		{name: "only on entering RUNNING", initial: was(pending), proposed: mk(completed), flowRun: flowIn(completed, 1),
			status: accept, write: completed},
		{name: "forced", initial: was(pending), proposed: mk(running), flowRun: flowIn(completed, 1), force: true,
			status: accept, write: running},
	}...)
	runTaskCases(t, cases)
}

func TestTaskScheduledTimeRules(t *testing.T) {
	runTaskCases(t, []taskCase{
		{name: "CopyScheduledTime", initial: was(sched, scheduledAt(at(-time.Hour))), proposed: mk(pending),
			status: accept, write: pending,
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
				require.Equal(t, at(-time.Hour), *res.Write.StateDetails.ScheduledTime)
			}},
		{name: "WaitForScheduledTime", initial: was(sched, named("AwaitingRetry"), scheduledAt(at(3*time.Second))),
			proposed: mk(running, named("Retrying")), status: wait, reason: "Scheduled time is in the future",
			check: func(t *testing.T, in schema.TaskRun, res TaskRunResult) {
				require.Equal(t, 3, *res.Details.DelaySeconds)
				require.Equal(t, in, res.Run)
			}},
		{name: "due", initial: was(sched, scheduledAt(at(-time.Second))), proposed: mk(running),
			status: accept, write: running},
	})
}

func TestRetryFailedTasks(t *testing.T) {
	policy := func(runCount int, retries *int, delay string, jitter *float64) func(*schema.TaskRun) {
		return func(r *schema.TaskRun) {
			r.RunCount = runCount
			r.EmpiricalPolicy.Retries = retries
			r.EmpiricalPolicy.RetryDelay = json.RawMessage(delay)
			r.EmpiricalPolicy.RetryJitterFactor = jitter
		}
	}
	failure := mk(failed, withMessage("boom"))
	retryAt := func(after time.Duration) func(*testing.T, schema.TaskRun, TaskRunResult) {
		return func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
			require.Equal(t, t0.Add(after), *res.Write.StateDetails.ScheduledTime)
			require.Equal(t, "boom", *res.Write.Message)
			require.Equal(t, t0.Add(after), *res.Run.NextScheduledStartTime)
		}
	}
	notRetriable := withDetails(func(d *schema.StateDetails) { d.Retriable = ptr(false) })
	jittered := func(t *testing.T, in schema.TaskRun, res TaskRunResult) {
		// Factor 9 on 10 s: at most 100 s, at least the lower clamp
		// (log2(2^10/(2^10-1)) * 10 s, about 14 ms); reproducible.
		got := res.Write.StateDetails.ScheduledTime.Sub(t0)
		require.LessOrEqual(t, got, 100*time.Second)
		require.Greater(t, got, 10*time.Millisecond)
		again := TaskRun(TaskRunContext{Run: in, Proposed: failure, Now: t0, FlowRun: runningFlow(1)})
		require.Equal(t, *res.Write.StateDetails.ScheduledTime, *again.Write.StateDetails.ScheduledTime)
	}
	cases := []taskCase{
		{name: "number delay", initial: was(running), proposed: failure, setup: policy(1, ptr(2), "10", nil),
			status: reject, reason: "Retrying", write: sched, wname: "AwaitingRetry", check: retryAt(10 * time.Second)},
		{name: "no delay", initial: was(running), proposed: failure, setup: policy(1, ptr(2), "null", nil),
			status: reject, reason: "Retrying", write: sched, check: retryAt(0)},
		{name: "legacy fields", initial: was(running), proposed: failure,
			setup: func(r *schema.TaskRun) {
				r.RunCount, r.EmpiricalPolicy.MaxRetries, r.EmpiricalPolicy.RetryDelaySeconds = 1, 1, 4
			},
			status: reject, reason: "Retrying", write: sched, check: retryAt(4 * time.Second)},
		{name: "jitter", initial: was(running), proposed: failure, setup: policy(2, ptr(2), "10", ptr(9.0)),
			status: reject, reason: "Retrying", write: sched, check: jittered},
		{name: "jitter without a delay", initial: was(running), proposed: failure, setup: policy(1, ptr(2), "null", ptr(0.5)),
			status: reject, reason: "Retrying", write: sched, check: retryAt(0)},
		{name: "exhausted", initial: was(running), proposed: failure, setup: policy(3, ptr(2), "10", nil),
			status: accept, write: failed},
		{name: "no retries", initial: was(running), proposed: failure, setup: policy(1, nil, "10", nil),
			status: accept, write: failed},
		{name: "not retriable", initial: was(running), proposed: mk(failed, notRetriable), setup: policy(1, ptr(2), "10", nil),
			status: accept, write: failed},
		{name: "retriable explicitly", initial: was(running), setup: policy(1, ptr(2), "1", nil),
			proposed: mk(failed, withMessage("boom"), withDetails(func(d *schema.StateDetails) { d.Retriable = ptr(true) })),
			status:   reject, reason: "Retrying", write: sched, check: retryAt(time.Second)},
		{name: "forced", initial: was(running), proposed: failure, force: true, setup: policy(1, ptr(2), "10", nil),
			status: accept, write: failed},
	}
	for i, want := range []int{2, 3, 5, 7, 7, 7} {
		cases = append(cases, taskCase{name: fmt.Sprintf("delay list, attempt %d", i+1), initial: was(running), proposed: failure,
			setup: policy(i+1, ptr(6), "[2,3,5,7]", nil), status: reject, reason: "Retrying", write: sched,
			check: retryAt(time.Duration(want) * time.Second)})
	}
	runTaskCases(t, cases)
}

func TestRenameReruns(t *testing.T) {
	count := func(n int) func(*schema.TaskRun) { return func(r *schema.TaskRun) { r.RunCount = n } }
	runTaskCases(t, []taskCase{
		{name: "after AwaitingRetry", initial: was(sched, named("AwaitingRetry")), proposed: mk(running), setup: count(1),
			status: accept, write: running, wname: "Retrying",
			check: func(t *testing.T, _ schema.TaskRun, res TaskRunResult) { require.Equal(t, 2, res.Run.RunCount) }},
		{name: "client already says Retrying", initial: was(sched, named("AwaitingRetry")), proposed: mk(running, named("Retrying")),
			setup: count(1), status: accept, write: running, wname: "Retrying"},
		{name: "rerun", initial: was(sched), proposed: mk(running), setup: count(2), status: accept, write: running, wname: "Rerunning"},
		{name: "rerun from PENDING", initial: was(pending), proposed: mk(running, named("Custom")), setup: count(1),
			status: accept, write: running, wname: "Rerunning"},
		{name: "first run", initial: was(sched, named("AwaitingRetry")), proposed: mk(running), status: accept, write: running, wname: "Running"},
		{name: "no initial state", proposed: mk(running), setup: count(1), status: accept, write: running, wname: "Running"},
		{name: "forced", initial: was(sched), proposed: mk(running), setup: count(2), force: true, status: accept, write: running, wname: "Running"},
	})
}

func TestUpdateFlowRunTrackerOnTasks(t *testing.T) {
	tracked := func(want int) func(*testing.T, schema.TaskRun, TaskRunResult) {
		return func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
			require.Equal(t, want, res.Run.FlowRunRunCount)
		}
	}
	var cases []taskCase
	for _, from := range []*schema.State{nil, was(sched), was(pending), was(running), was(failed)} {
		cases = append(cases, taskCase{name: "from " + string(typeOf(from)), initial: from, proposed: mk(running),
			flowRun: runningFlow(42), status: accept, write: running, check: tracked(42)})
	}
	cases = append(cases, []taskCase{
		{name: "not for other states", initial: was(running), proposed: mk(completed), flowRun: runningFlow(42),
			status: accept, write: completed, check: tracked(0)},
		{name: "not when told to wait", initial: was(sched, scheduledAt(at(time.Minute))), proposed: mk(running),
			flowRun: runningFlow(42), status: wait, reason: "Scheduled time is in the future", check: tracked(0)},
		{name: "without a flow run", initial: was(pending), proposed: mk(running), noFlow: true,
			status: accept, write: running, check: tracked(0)},
		{name: "forced", initial: was(pending), proposed: mk(running), flowRun: runningFlow(42), force: true,
			status: accept, write: running, check: tracked(0)},
	}...)
	runTaskCases(t, cases)
}

func TestCacheInsertion(t *testing.T) {
	exp := at(24 * time.Hour)
	expiring := withDetails(func(d *schema.StateDetails) { d.CacheExpiration = &exp })
	cachedAs := func(key string, exp *time.Time) func(*testing.T, schema.TaskRun, TaskRunResult) {
		return func(t *testing.T, _ schema.TaskRun, res TaskRunResult) {
			require.Equal(t, &CacheEntry{Key: key, Expiration: exp}, res.Cache)
		}
	}
	notCached := func(t *testing.T, _ schema.TaskRun, res TaskRunResult) { require.Nil(t, res.Cache) }
	long := strings.Repeat("é", 6) // six characters, twelve bytes
	runTaskCases(t, []taskCase{
		{name: "completed with a key", initial: was(running), proposed: mk(completed, cacheKey("k"), expiring),
			status: accept, write: completed, check: cachedAs("k", &exp)},
		{name: "without expiration", initial: was(running), proposed: mk(completed, cacheKey("k")),
			status: accept, write: completed, check: cachedAs("k", nil)},
		{name: "without a key", initial: was(running), proposed: mk(completed), status: accept, write: completed, check: notCached},
		{name: "empty key", initial: was(running), proposed: mk(completed, cacheKey("")), status: accept, write: completed, check: notCached},
		{name: "failed", initial: was(running), proposed: mk(failed, cacheKey("k")), status: accept, write: failed, check: notCached},
		{name: "key at the limit", initial: was(running), proposed: mk(completed, cacheKey(long[:10])), maxKey: 5,
			status: accept, write: completed, check: cachedAs(long[:10], nil)},
		// Prefect rejects with the proposed state itself: it is still
		// written, and its after hook still caches it.
		{name: "key too long", initial: was(running), proposed: mk(completed, cacheKey(long)), maxKey: 5,
			status: reject, reason: "Cache key exceeded maximum allowed length of 5 characters.", write: completed, wname: "Completed",
			check: cachedAs(long, nil)},
		{name: "default limit", initial: was(running), proposed: mk(completed, cacheKey(strings.Repeat("a", 2001))),
			status: reject, reason: "Cache key exceeded maximum allowed length of 2000 characters.", write: completed},
		{name: "forced", initial: was(running), proposed: mk(completed, cacheKey("k")), force: true,
			status: accept, write: completed, check: notCached},
	})
}
