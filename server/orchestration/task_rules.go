package orchestration

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"unicode/utf8"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// cacheRetrieval is Prefect's CacheRetrieval: a task about to run whose
// cache key has an unexpired cached state gets a fresh copy of it, named
// "Cached", instead. The store looks the cached state up.
func cacheRetrieval() rule[*taskTx] {
	return rule[*taskTx]{
		name: "CacheRetrieval",
		from: inAll,
		to:   inRunning,
		before: func(c *taskTx, r *ruleCall) {
			d := r.t.proposed.StateDetails
			if d.CacheKey == nil || *d.CacheKey == "" || (d.RefreshCache != nil && *d.RefreshCache) || c.cached == nil {
				return
			}
			s := *c.cached
			s.ID = uuid.Must(uuid.NewV7())
			s.Timestamp = r.t.now
			s.Name = "Cached"
			r.reject(&s, "Retrieved state from cache")
		},
	}
}

// handleTaskTerminalStateTransitions is Prefect's
// HandleTaskTerminalStateTransitions: finished tasks may not crash, pause
// or start cancelling, and a persisted COMPLETED result is kept. A task
// leaving a terminal state starts its retries afresh (run_count 0, restored
// if the transition fizzles), and is "Retrying" when its flow is on a newer
// attempt than the one it last ran in.
func handleTaskTerminalStateTransitions() rule[*taskTx] {
	var savedRunCount int
	return rule[*taskTx]{
		name: "HandleTaskTerminalStateTransitions",
		from: inTerminal,
		to:   inAll,
		before: func(c *taskTx, r *ruleCall) {
			in, p := r.t.initial, r.t.proposed
			savedRunCount = c.run.RunCount
			switch p.Type {
			case schema.StateCancelling, schema.StatePaused, schema.StateCrashed:
				r.abort(fmt.Sprintf("Run is already %s.", in.Type))
				return
			}
			if in.Type == schema.StateCompleted && holdsPersistedResult(in) {
				r.reject(nil, "This run is already completed.")
				return
			}
			if !p.Type.Terminal() {
				c.run.RunCount = 0
			}
			if p.Type == schema.StateRunning && c.run.FlowRunID != nil && c.flowRun != nil &&
				c.run.FlowRunRunCount < c.flowRun.RunCount {
				r.rename("Retrying")
			}
		},
		cleanup: func(c *taskTx, _ *ruleCall) {
			c.run.RunCount = savedRunCount
		},
	}
}

// preventRunningTasksFromStoppedFlows is Prefect's
// PreventRunningTasksFromStoppedFlows: a task runs only while its flow
// runs; in a paused flow it is parked as Paused "NotReady" with the flow's
// pause settings.
func preventRunningTasksFromStoppedFlows() rule[*taskTx] {
	const notRunning = "The enclosing flow must be running to begin task execution."
	return rule[*taskTx]{
		name: "PreventRunningTasksFromStoppedFlows",
		from: inAll,
		to:   inRunning,
		before: func(c *taskTx, r *ruleCall) {
			fr := c.flowRun
			switch {
			case fr == nil:
			case fr.State == nil:
				r.abort(notRunning)
			case fr.State.Type == schema.StatePaused:
				s := newState(schema.StatePaused, "NotReady", r.t.now)
				s.StateDetails.PauseTimeout = fr.State.StateDetails.PauseTimeout
				s.StateDetails.PauseReschedule = fr.State.StateDetails.PauseReschedule
				r.reject(s, fmt.Sprintf("The flow is paused, new tasks can execute after resuming flow run: %s.", fr.ID))
			case fr.State.Type != schema.StateRunning:
				r.abort(notRunning)
			}
		},
	}
}

// retryFailedTasks is Prefect's RetryFailedTasks: a failure with retries
// left, unless the client marked it not retriable, becomes AwaitingRetry
// after the attempt's retry delay, optionally jittered.
func retryFailedTasks() rule[*taskTx] {
	return rule[*taskTx]{
		name: "RetryFailedTasks",
		from: inRunning,
		to:   inFailed,
		before: func(c *taskTx, r *ruleCall) {
			p := r.t.proposed
			if p.StateDetails.Retriable != nil && !*p.StateDetails.Retriable {
				return
			}
			pol := c.run.EmpiricalPolicy
			retries := pol.Retries
			if retries == nil && pol.MaxRetries != 0 {
				retries = &pol.MaxRetries
			}
			if retries == nil || c.run.RunCount > *retries {
				return
			}
			delay := pol.DelayFor(c.run.RunCount)
			if (len(pol.RetryDelay) == 0 || string(pol.RetryDelay) == "null") && pol.RetryDelaySeconds != 0 {
				delay = pol.RetryDelaySeconds // the legacy field, as Prefect's validator fills it
			}
			if f := pol.RetryJitterFactor; f != nil && *f > 0 && delay > 0 {
				delay = clampedPoissonInterval(delay, *f, jitterDraw(c.run.ID, c.run.RunCount))
			}
			r.reject(awaitingRetry(r.t.now.Add(delayDuration(delay)), p, r.t.now), "Retrying")
		},
	}
}

// renameReruns is Prefect's RenameReruns: a task starting again is
// "Retrying" after AwaitingRetry and "Rerunning" otherwise.
func renameReruns() rule[*taskTx] {
	return rule[*taskTx]{
		name: "RenameReruns",
		from: inAll,
		to:   inRunning,
		before: func(c *taskTx, r *ruleCall) {
			if r.t.initial == nil || c.run.RunCount <= 0 {
				return
			}
			if r.t.initial.Name == "AwaitingRetry" {
				r.rename("Retrying")
			} else {
				r.rename("Rerunning")
			}
		},
	}
}

// updateFlowRunTrackerOnTasks is Prefect's UpdateFlowRunTrackerOnTasks: a
// running task records which flow attempt it belongs to, which lets a flow
// retry rerun it (see handleTaskTerminalStateTransitions).
func updateFlowRunTrackerOnTasks() rule[*taskTx] {
	return rule[*taskTx]{
		name: "UpdateFlowRunTrackerOnTasks",
		from: inAll,
		to:   inRunning,
		after: func(c *taskTx, _ *ruleCall) {
			// Prefect raises when the parent flow run is gone; the store
			// loads it in the same transaction, so a missing one is left be.
			if c.run.FlowRunID != nil && c.flowRun != nil {
				c.run.FlowRunRunCount = c.flowRun.RunCount
			}
		},
	}
}

// cacheInsertion is Prefect's CacheInsertion: a COMPLETED state with a cache
// key is recorded in the cache once written. An over-long key is answered
// with REJECT, but, as in Prefect, the proposed state itself is the
// replacement, so it is still written and cached.
func cacheInsertion() rule[*taskTx] {
	return rule[*taskTx]{
		name: "CacheInsertion",
		from: inAll,
		to:   inCompleted,
		before: func(c *taskTx, r *ruleCall) {
			key := r.t.proposed.StateDetails.CacheKey
			if key != nil && utf8.RuneCountInString(*key) > c.maxCacheKeyLength {
				r.reject(r.t.proposed, fmt.Sprintf("Cache key exceeded maximum allowed length of %d characters.", c.maxCacheKeyLength))
			}
		},
		after: func(c *taskTx, r *ruleCall) {
			d := r.t.proposed.StateDetails
			if d.CacheKey != nil && *d.CacheKey != "" {
				c.cache = &CacheEntry{Key: *d.CacheKey, Expiration: d.CacheExpiration}
			}
		},
	}
}

// copyTaskParametersID is Prefect's CopyTaskParametersID: the id under
// which a background task's parameters were stored travels from its
// Scheduled state to the Pending and Running ones, unless they bring one.
func copyTaskParametersID() rule[*taskTx] {
	return rule[*taskTx]{
		name: "CopyTaskParametersID",
		from: inScheduled | inPending,
		to:   inPending | inRunning,
		before: func(_ *taskTx, r *ruleCall) {
			if r.t.proposed.StateDetails.TaskParametersID == nil {
				r.t.proposed.StateDetails.TaskParametersID = r.t.initial.StateDetails.TaskParametersID
			}
		},
	}
}

// enqueueScheduledTasks is Prefect's EnqueueScheduledTasks: a deferred
// Scheduled state, once written, queues the run for the task workers of its
// key; an AwaitingRetry one goes ahead of the others.
func enqueueScheduledTasks() rule[*taskTx] {
	return rule[*taskTx]{
		name: "EnqueueScheduledTasks",
		from: inAll,
		to:   inScheduled,
		after: func(c *taskTx, r *ruleCall) {
			if p := r.t.proposed; p != nil && p.StateDetails.Deferred {
				c.enqueue = &TaskRunEnqueue{Retry: p.Name == "AwaitingRetry"}
			}
		},
	}
}

// clampedPoissonInterval is Prefect's clamped_poisson_interval with the
// uniform draw u in [0,1) passed in: an exponential variate around average
// bounded above by average*(1+factor) and below so the mean stays close to
// average.
func clampedPoissonInterval(average, factor, u float64) float64 {
	upperMultiple := 1 + factor
	lowerMultiple := 0.0
	if upperMultiple < 50 {
		k := math.Pow(2, upperMultiple)
		lowerMultiple = math.Log2(math.Max(k/(k-1), 1e-10))
	}
	cdf := func(x float64) float64 { return 1 - math.Exp(-x/average) }
	lo, hi := cdf(math.Max(0, average*lowerMultiple)), cdf(average*upperMultiple)
	x := lo + (hi-lo)*u
	return -math.Log(math.Max(1-x, 1e-10)) * average
}

// jitterDraw is the uniform draw for a retry's jitter. Prefect draws at
// random; hashing the task run and attempt keeps the spread across runs
// that jitter exists for while making a decision reproducible.
func jitterDraw(id uuid.UUID, runCount int) float64 {
	h := fnv.New64a()
	h.Write(id[:])
	_ = binary.Write(h, binary.LittleEndian, int64(runCount))
	return float64(h.Sum64()>>11) / (1 << 53)
}
