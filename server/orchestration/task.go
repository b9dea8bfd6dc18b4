package orchestration

import (
	"prefectgo.dev/prefectgo/server/schema"
)

// defaultMaxCacheKeyLength is PREFECT_SERVER_TASKS_MAX_CACHE_KEY_LENGTH's
// default, used when the context leaves the limit unset.
const defaultMaxCacheKeyLength = 2000

// taskTx is one task-run transition being governed.
type taskTx struct {
	*transition
	run               schema.TaskRun
	flowRun           *schema.FlowRun
	cached            *schema.State
	maxCacheKeyLength int
	cache             *CacheEntry
	enqueue           *TaskRunEnqueue
}

// TaskRun decides a task-run state transition: Prefect's CoreTaskPolicy,
// MinimalTaskPolicy when c.Force, or BackgroundTaskPolicy for a deferred
// proposed state, forced or not (as Prefect chooses it), then the global
// bookkeeping transforms for the state written. The caller's inputs are not
// modified.
func TaskRun(c TaskRunContext) TaskRunResult {
	tx := &taskTx{
		transition:        newTransition(c.Run.State, c.Proposed, c.Now),
		run:               c.Run,
		flowRun:           c.FlowRun,
		cached:            c.CachedState,
		maxCacheKeyLength: c.MaxCacheKeyLength,
	}
	if tx.maxCacheKeyLength <= 0 {
		tx.maxCacheKeyLength = defaultMaxCacheKeyLength
	}
	rules := coreTaskPolicy()
	switch {
	case c.Proposed.StateDetails.Deferred:
		rules = backgroundTaskPolicy()
	case c.Force:
		rules = minimalTaskPolicy()
	}
	govern(tx.transition, tx, rules, func() {
		if tx.proposed != nil {
			globalTaskTransforms(tx)
		}
	})
	return TaskRunResult{Result: tx.result(), Run: tx.run, Cache: tx.cache, Enqueue: tx.enqueue}
}

// coreTaskPolicy is Prefect's CoreTaskPolicy, in priority order.
func coreTaskPolicy() []rule[*taskTx] {
	return []rule[*taskTx]{
		cacheRetrieval(),
		handleTaskTerminalStateTransitions(),
		preventRunningTasksFromStoppedFlows(),
		// SecureTaskConcurrencySlots (tag concurrency leases in the
		// database) slots in here, after cache retrieval so that cached
		// states come back even when slots are full.
		copyScheduledTime[*taskTx](),
		waitForScheduledTime[*taskTx](),
		retryFailedTasks(),
		renameReruns(),
		updateFlowRunTrackerOnTasks(),
		cacheInsertion(),
		// ReleaseTaskConcurrencySlots (database leases) goes last.
	}
}

// backgroundTaskPolicy is Prefect's BackgroundTaskPolicy, the policy of
// deferred states (background tasks run by task workers): the core rules
// without the parent flow's check, a second submission aborted, the
// parameters' id carried along, and a Scheduled state enqueued for the task
// workers last.
func backgroundTaskPolicy() []rule[*taskTx] {
	return []rule[*taskTx]{
		preventPendingTransitions[*taskTx](),
		cacheRetrieval(),
		handleTaskTerminalStateTransitions(),
		copyScheduledTime[*taskTx](),
		copyTaskParametersID(),
		waitForScheduledTime[*taskTx](),
		retryFailedTasks(),
		renameReruns(),
		updateFlowRunTrackerOnTasks(),
		cacheInsertion(),
		enqueueScheduledTasks(),
	}
}

// minimalTaskPolicy is Prefect's MinimalTaskPolicy, whose only rule,
// ReleaseTaskConcurrencySlots, belongs to the concurrency work; forced task
// transitions get the global transforms alone.
func minimalTaskPolicy() []rule[*taskTx] {
	return nil
}
