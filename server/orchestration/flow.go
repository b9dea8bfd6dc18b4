package orchestration

import (
	"slices"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// flowTx is one flow-run transition being governed: the shared transition
// and a private copy of the run that rules and transforms update.
type flowTx struct {
	*transition
	run schema.FlowRun

	// Deployment concurrency: what the store loaded, the settings, and the
	// slot and lease changes requested.
	dep        *DeploymentConcurrency
	client     *[3]int
	slotWait   time.Duration
	initialTTL time.Duration
	effects    DeploymentEffects
}

// FlowRun decides a flow-run state transition: Prefect's CoreFlowPolicy, or
// MinimalFlowPolicy when c.Force, then the global bookkeeping transforms
// for the state written. The caller's run and proposed state are not
// modified.
func FlowRun(c FlowRunContext) FlowRunResult {
	tx := &flowTx{transition: newTransition(c.Run.State, c.Proposed, c.Now), run: c.Run,
		dep: c.Deployment, client: c.ClientVersion, slotWait: c.ConcurrencySlotWait, initialTTL: c.InitialDeploymentLeaseDuration}
	if tx.slotWait <= 0 {
		tx.slotWait = defaultSlotWait
	}
	if tx.initialTTL <= 0 {
		tx.initialTTL = defaultDeploymentTTL
	}
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
	if c.Policy != MarkLateRunsPolicy || c.Force {
		// ReleaseFlowConcurrencySlots, last in CoreFlowPolicy and
		// MinimalFlowPolicy: after the transition, on what is written.
		releaseFlowConcurrencySlots(tx)
	}
	return FlowRunResult{Result: tx.result(), Run: tx.run, Deployment: tx.effects}
}

// coreFlowPolicy is Prefect's CoreFlowPolicy, in priority order.
func coreFlowPolicy() []rule[*flowTx] {
	return []rule[*flowTx]{
		preserveDeploymentConcurrencyLeaseID(),
		preventDuplicateTransitions(),
		handleFlowTerminalStateTransitions(),
		enforceCancellingToCancelledTransition(),
		bypassCancellingFlowRunsWithNoInfra(),
		preventPendingTransitions[*flowTx](),
		validateDeploymentConcurrencyAtRunning(),
		secureFlowConcurrencySlots(),
		removeDeploymentConcurrencyLeaseForOldClients(),
		ensureOnlyScheduledFlowsMarkedLate(),
		handlePausingFlows(),
		handleResumingPausedFlows(),
		copyScheduledTime[*flowTx](),
		waitForScheduledTime[*flowTx](),
		retryFailedFlows(),
		// InstrumentFlowRunStateTransitions: the HTTP layer emits the event
		// after commit.
		// ReleaseFlowConcurrencySlots: FlowRun applies it last.
	}
}

// minimalFlowPolicy is Prefect's MinimalFlowPolicy, used for forced
// transitions and a run's initial state.
func minimalFlowPolicy() []rule[*flowTx] {
	return []rule[*flowTx]{
		preventResultDataLoss(),
		bypassCancellingFlowRunsWithNoInfra(),
		// InstrumentFlowRunStateTransitions: HTTP layer.
		// ReleaseFlowConcurrencySlots: FlowRun applies it last.
	}
}

// markLateRunsPolicy is Prefect's MarkLateRunsPolicy, which the late-runs
// service uses to move overdue Scheduled runs to Late.
func markLateRunsPolicy() []rule[*flowTx] {
	return []rule[*flowTx]{
		ensureOnlyScheduledFlowsMarkedLate(),
		enforceDeploymentConcurrencyOnLate(),
		// InstrumentFlowRunStateTransitions: the caller emits the event.
	}
}
