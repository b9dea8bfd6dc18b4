package orchestration

import (
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Deployment concurrency: a deployment's concurrency_limit is a v2 limit
// named "deployment:<id>". A run takes one of its slots on its way to
// PENDING, under a lease the client renews while the run lives, and gives
// it back when it leaves PENDING/RUNNING/CANCELLING. The rules only decide;
// the store loads FlowRunContext.Deployment and applies the
// DeploymentEffects they request in the same transaction.

// minLeasingClient is Prefect's MIN_CLIENT_VERSION_FOR_CONCURRENCY_LIMIT_LEASING:
// older clients do not renew deployment leases.
var minLeasingClient = [3]int{3, 4, 11}

const (
	defaultSlotWait      = 30 * time.Second
	defaultDeploymentTTL = 300 * time.Second
)

func versionLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// leasingClient reports whether the client renews deployment leases; an
// unknown client is taken for an old one, as Prefect does.
func (c *flowTx) leasingClient() bool {
	return c.client != nil && !versionLess(*c.client, minLeasingClient)
}

// managesOwnConcurrency is Prefect's WORKER_VERSIONS_THAT_MANAGE_DEPLOYMENT_CONCURRENCY:
// workers 3.0.0-3.0.3 enforced deployment concurrency themselves.
func (c *flowTx) managesOwnConcurrency() bool {
	return c.client != nil && (*c.client)[0] == 3 && (*c.client)[1] == 0 && (*c.client)[2] <= 3
}

// leaseTTL is the deployment's grace period, or the server's initial
// deployment lease duration.
func (c *flowTx) leaseTTL() time.Duration {
	if c.dep != nil && c.dep.GracePeriodSeconds != nil {
		return time.Duration(*c.dep.GracePeriodSeconds) * time.Second
	}
	return c.initialTTL
}

// limited reports whether the run's deployment has a concurrency limit.
func (c *flowTx) limited() bool {
	return c.run.DeploymentID != nil && c.dep != nil && !c.dep.Missing && c.dep.Limit != nil
}

// validateDeploymentConcurrencyAtRunning is Prefect's
// ValidateDeploymentConcurrencyAtRunning: a run starting keeps its lease
// and, for a client that renews leases, has it renewed; if the lease was
// reaped while the run was being provisioned, it takes a free slot again or,
// with none free, is cancelled (its infrastructure is already up, so it
// cannot wait).
func validateDeploymentConcurrencyAtRunning() rule[*flowTx] {
	return rule[*flowTx]{
		name: "ValidateDeploymentConcurrencyAtRunning",
		from: inPending,
		to:   inRunning,
		before: func(c *flowTx, r *ruleCall) {
			lease := r.t.initial.StateDetails.DeploymentConcurrencyLeaseID
			r.t.proposed.StateDetails.DeploymentConcurrencyLeaseID = lease
			if lease == nil || !c.leasingClient() || !c.limited() {
				return
			}
			ttl := c.leaseTTL()
			if c.dep.LeaseAlive {
				c.effects.Renew = &LeaseRequest{LeaseID: *lease, TTL: ttl}
				return
			}
			if c.dep.SlotAvailable {
				id := uuid.Must(uuid.NewV7())
				c.effects.Acquire = &LeaseRequest{LeaseID: id, TTL: ttl}
				r.t.proposed.StateDetails.DeploymentConcurrencyLeaseID = &id
				return
			}
			cancelled := newState(schema.StateCancelled, "", r.t.now)
			cancelled.Message = ptr("Deployment concurrency slot lost during provisioning - " +
				"no slots available to continue execution")
			r.reject(cancelled, "Deployment concurrency limit reached after lease expiry.")
		},
		cleanup: func(c *flowTx, _ *ruleCall) {
			c.effects.Renew, c.effects.Acquire = nil, nil
		},
	}
}

// secureFlowConcurrencySlots is Prefect's SecureFlowConcurrencySlots: a run
// of a deployment with a concurrency limit takes a slot on its way to
// PENDING, before a worker provisions infrastructure, and records the lease
// in its state details. Without a free slot it waits (ENQUEUE: Scheduled
// "AwaitingConcurrencySlot") or is cancelled (CANCEL_NEW). Limit 0 would
// never admit it.
func secureFlowConcurrencySlots() rule[*flowTx] {
	return rule[*flowTx]{
		name: "SecureFlowConcurrencySlots",
		from: inAll &^ (inPending | inRunning | inCancelling),
		to:   inPending,
		before: func(c *flowTx, r *ruleCall) {
			if c.run.DeploymentID == nil || c.managesOwnConcurrency() || c.dep == nil {
				return
			}
			if c.dep.Missing {
				r.abort("Deployment not found.")
				return
			}
			if c.dep.Limit == nil {
				return
			}
			if *c.dep.Limit == 0 {
				r.abort("The deployment concurrency limit is 0. The flow will deadlock if submitted again.")
				return
			}
			if c.dep.SlotAvailable {
				id := uuid.Must(uuid.NewV7())
				c.effects.Acquire = &LeaseRequest{LeaseID: id, TTL: c.leaseTTL()}
				r.t.proposed.StateDetails.DeploymentConcurrencyLeaseID = &id
				return
			}
			if c.dep.CollisionStrategy == schema.CollisionCancelNew {
				cancelled := newState(schema.StateCancelled, "", r.t.now)
				cancelled.Message = ptr("Deployment concurrency limit reached.")
				r.reject(cancelled, "Deployment concurrency limit reached.")
				return
			}
			waiting := newState(schema.StateScheduled, "AwaitingConcurrencySlot", r.t.now)
			at := r.t.now.Add(c.slotWait)
			waiting.StateDetails.ScheduledTime = &at
			r.reject(waiting, "Deployment concurrency limit reached.")
		},
		// A later rule turned the transition into another: the slot is not
		// taken after all (Prefect gives it back and revokes the lease).
		cleanup: func(c *flowTx, r *ruleCall) {
			if c.effects.Acquire == nil {
				return
			}
			if p := r.t.proposed; p != nil && p.StateDetails.DeploymentConcurrencyLeaseID != nil &&
				*p.StateDetails.DeploymentConcurrencyLeaseID == c.effects.Acquire.LeaseID {
				p.StateDetails.DeploymentConcurrencyLeaseID = nil
			}
			c.effects.Acquire = nil
		},
	}
}

// removeDeploymentConcurrencyLeaseForOldClients is Prefect's
// RemoveDeploymentConcurrencyLeaseForOldClientVersions: a client older than
// 3.4.11 does not renew its lease, so once the run starts the lease must no
// longer expire. Prefect revokes the lease and keeps the slot, releasing it
// at the end of the run through the deployment's limit; we keep the lease
// but pin it (no expiry), so the end of the run releases exactly this slot.
func removeDeploymentConcurrencyLeaseForOldClients() rule[*flowTx] {
	return rule[*flowTx]{
		name: "RemoveDeploymentConcurrencyLeaseForOldClientVersions",
		from: inPending,
		to:   inRunning | inCancelling,
		after: func(c *flowTx, r *ruleCall) {
			if c.leasingClient() {
				return
			}
			if lease := r.t.initial.StateDetails.DeploymentConcurrencyLeaseID; lease != nil {
				c.effects.Pin = lease
			}
		},
	}
}

// enforceDeploymentConcurrencyOnLate is Prefect's
// EnforceDeploymentConcurrencyOnLate: a run of a CANCEL_NEW deployment whose
// limit is full would be cancelled when submitted, so it is cancelled
// instead of being marked Late.
func enforceDeploymentConcurrencyOnLate() rule[*flowTx] {
	return rule[*flowTx]{
		name: "EnforceDeploymentConcurrencyOnLate",
		from: inScheduled,
		to:   inScheduled,
		before: func(c *flowTx, r *ruleCall) {
			if r.t.proposed.Name != "Late" || !c.limited() ||
				c.dep.CollisionStrategy != schema.CollisionCancelNew || c.dep.SlotAvailable {
				return
			}
			cancelled := newState(schema.StateCancelled, "", r.t.now)
			cancelled.Message = ptr("Deployment concurrency limit reached.")
			r.reject(cancelled, "Deployment concurrency limit reached.")
		},
	}
}

// leaseHoldingStates are the states in which a run holds its deployment slot.
const leaseHoldingStates = inPending | inRunning | inCancelling

// releaseFlowConcurrencySlots is Prefect's ReleaseFlowConcurrencySlots, a
// universal transform run after every transition that writes a state: a
// run leaving PENDING/RUNNING/CANCELLING for any other state gives its
// deployment lease back. Prefect falls back to decrementing the deployment
// limit by one when the lease is gone; we do not, since a reaped lease's
// slot has already been given back (and may be another run's by now).
func releaseFlowConcurrencySlots(c *flowTx) {
	in, w := c.initial, c.proposed
	if in == nil || w == nil || c.run.DeploymentID == nil {
		return
	}
	if !leaseHoldingStates.has(in.Type) || leaseHoldingStates.has(w.Type) {
		return
	}
	if lease := in.StateDetails.DeploymentConcurrencyLeaseID; lease != nil {
		c.effects.Release = lease
	}
}
