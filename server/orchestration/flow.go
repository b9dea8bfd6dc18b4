package orchestration

import (
	"slices"

	"prefectgo.dev/prefectgo/server/schema"
)

// flowTx is one flow-run transition being governed: the shared transition
// and a private copy of the run that rules and transforms update.
type flowTx struct {
	*transition
	run schema.FlowRun
}

// FlowRun decides a flow-run state transition: Prefect's CoreFlowPolicy, or
// MinimalFlowPolicy when c.Force, then the global bookkeeping transforms
// for the state written. The caller's run and proposed state are not
// modified.
func FlowRun(c FlowRunContext) FlowRunResult {
	tx := &flowTx{transition: newTransition(c.Run.State, c.Proposed, c.Now), run: c.Run}
	tx.run.EmpiricalPolicy.PauseKeys = slices.Clone(c.Run.EmpiricalPolicy.PauseKeys)
	rules := coreFlowPolicy()
	switch {
	case c.Force:
		rules = minimalFlowPolicy()
	case c.Policy == MarkLateRunsPolicy:
		rules = markLateRunsPolicy()
	}
	govern(tx.transition, tx, rules, func() {
		if tx.proposed != nil {
			globalFlowTransforms(tx)
		}
	})
	return FlowRunResult{Result: tx.result(), Run: tx.run}
}

// coreFlowPolicy is Prefect's CoreFlowPolicy, in priority order.
func coreFlowPolicy() []rule[*flowTx] {
	return []rule[*flowTx]{
		preserveDeploymentConcurrencyLeaseID(),
		preventDuplicateTransitions(),
		handleFlowTerminalStateTransitions(),
		enforceCancellingToCancelledTransition(),
		bypassCancellingFlowRunsWithNoInfra(),
		preventPendingTransitions(),
		// Deployment concurrency (the deployments work, needs slots and
		// leases in the database) slots in here, in this order:
		// ValidateDeploymentConcurrencyAtRunning, SecureFlowConcurrencySlots,
		// RemoveDeploymentConcurrencyLeaseForOldClientVersions.
		ensureOnlyScheduledFlowsMarkedLate(),
		handlePausingFlows(),
		handleResumingPausedFlows(),
		copyScheduledTime[*flowTx](),
		waitForScheduledTime[*flowTx](),
		retryFailedFlows(),
		// InstrumentFlowRunStateTransitions: the HTTP layer emits the event
		// after commit.
		// ReleaseFlowConcurrencySlots (deployments work) goes last.
	}
}

// minimalFlowPolicy is Prefect's MinimalFlowPolicy, used for forced
// transitions and a run's initial state.
func minimalFlowPolicy() []rule[*flowTx] {
	return []rule[*flowTx]{
		preventResultDataLoss(),
		bypassCancellingFlowRunsWithNoInfra(),
		// InstrumentFlowRunStateTransitions: HTTP layer.
		// ReleaseFlowConcurrencySlots: deployments work.
	}
}

// markLateRunsPolicy is Prefect's MarkLateRunsPolicy, which the late-runs
// service uses to move overdue Scheduled runs to Late.
func markLateRunsPolicy() []rule[*flowTx] {
	return []rule[*flowTx]{
		ensureOnlyScheduledFlowsMarkedLate(),
		// EnforceDeploymentConcurrencyOnLate (deployments work, needs slots):
		// a CANCEL_NEW deployment at its limit cancels the run instead.
		// InstrumentFlowRunStateTransitions: the caller emits the event.
	}
}
