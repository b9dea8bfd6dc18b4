package orchestration

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestDeploymentConcurrencyRules(t *testing.T) {
	lease := uuid.New()
	withLease := withDetails(func(d *schema.StateDetails) { d.DeploymentConcurrencyLeaseID = &lease })
	newClient, oldClient := &[3]int{3, 9, 0}, &[3]int{3, 4, 10}
	grace := 120
	dep := func(limit int, strategy string, slot, alive bool) *DeploymentConcurrency {
		return &DeploymentConcurrency{Limit: &limit, CollisionStrategy: strategy, SlotAvailable: slot, LeaseAlive: alive}
	}
	type tc struct {
		name     string
		initial  *schema.State
		proposed schema.State
		dep      *DeploymentConcurrency
		client   *[3]int
		noDep    bool
		force    bool
		policy   FlowPolicy
		status   schema.OrchestrationStatus
		reason   string
		write    schema.StateType
		wname    string
		check    func(t *testing.T, res FlowRunResult)
	}
	acquired := func(ttl time.Duration) func(*testing.T, FlowRunResult) {
		return func(t *testing.T, res FlowRunResult) {
			require.NotNil(t, res.Deployment.Acquire)
			require.Equal(t, ttl, res.Deployment.Acquire.TTL)
			require.Equal(t, res.Deployment.Acquire.LeaseID, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			require.Nil(t, res.Deployment.Renew)
			require.Nil(t, res.Deployment.Release)
		}
	}
	noEffects := func(t *testing.T, res FlowRunResult) { require.False(t, res.Deployment.Any(), "%+v", res.Deployment) }
	cases := []tc{
		{name: "slot free: acquired with the default ttl", initial: was(sched), proposed: mk(pending),
			dep: dep(1, "", true, false), client: newClient, status: accept, write: pending, check: acquired(300 * time.Second)},
		{name: "grace period is the ttl", initial: was(sched), proposed: mk(pending),
			dep: &DeploymentConcurrency{Limit: ptr(2), GracePeriodSeconds: &grace, SlotAvailable: true}, client: newClient,
			status: accept, write: pending, check: acquired(120 * time.Second)},
		{name: "no initial state", proposed: mk(pending), dep: dep(1, "", true, false),
			status: accept, write: pending, check: acquired(300 * time.Second)},
		{name: "enqueue when full", initial: was(sched), proposed: mk(pending), dep: dep(1, schema.CollisionEnqueue, false, false),
			status: reject, reason: "Deployment concurrency limit reached.", write: sched, wname: "AwaitingConcurrencySlot",
			check: func(t *testing.T, res FlowRunResult) {
				noEffects(t, res)
				require.Equal(t, t0.Add(30*time.Second), *res.Write.StateDetails.ScheduledTime)
			}},
		{name: "default strategy is enqueue", initial: was(sched), proposed: mk(pending), dep: dep(1, "", false, false),
			status: reject, reason: "Deployment concurrency limit reached.", write: sched, wname: "AwaitingConcurrencySlot"},
		{name: "cancel new when full", initial: was(sched), proposed: mk(pending), dep: dep(1, schema.CollisionCancelNew, false, false),
			status: reject, reason: "Deployment concurrency limit reached.", write: cancelled, wname: "Cancelled",
			check: func(t *testing.T, res FlowRunResult) {
				noEffects(t, res)
				require.Equal(t, "Deployment concurrency limit reached.", *res.Write.Message)
			}},
		{name: "limit 0 aborts", initial: was(sched), proposed: mk(pending), dep: dep(0, "", false, false),
			status: abort, reason: "The deployment concurrency limit is 0. The flow will deadlock if submitted again.", check: noEffects},
		{name: "deployment gone aborts", initial: was(sched), proposed: mk(pending), dep: &DeploymentConcurrency{Missing: true},
			status: abort, reason: "Deployment not found.", check: noEffects},
		{name: "no limit", initial: was(sched), proposed: mk(pending), dep: &DeploymentConcurrency{},
			status: accept, write: pending, check: noEffects},
		{name: "no deployment", initial: was(sched), proposed: mk(pending), noDep: true, dep: dep(1, "", false, false),
			status: accept, write: pending, check: noEffects},
		{name: "3.0.3 worker manages its own", initial: was(sched), proposed: mk(pending), client: &[3]int{3, 0, 3},
			dep: dep(1, "", false, false), status: accept, write: pending, check: noEffects},
		{name: "pending again is aborted before the slot", initial: was(pending, withLease), proposed: mk(pending),
			dep: dep(1, "", true, true), status: abort,
			reason: "This run is in a PENDING state and cannot transition to a PENDING state.", check: noEffects},
		{name: "submitting keeps the lease", initial: was(pending, withLease), proposed: mk(pending, named("Submitting")),
			dep: dep(1, "", false, true), status: accept, write: pending, check: func(t *testing.T, res FlowRunResult) {
				noEffects(t, res)
				require.Equal(t, lease, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			}},
		{name: "running renews the lease", initial: was(pending, withLease), proposed: mk(running),
			dep: dep(1, "", false, true), client: newClient, status: accept, write: running,
			check: func(t *testing.T, res FlowRunResult) {
				require.Equal(t, &LeaseRequest{LeaseID: lease, TTL: 300 * time.Second}, res.Deployment.Renew)
				require.Nil(t, res.Deployment.Acquire)
				require.Nil(t, res.Deployment.Pin)
				require.Equal(t, lease, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			}},
		{name: "running keeps the initial lease over a proposed one", initial: was(pending, withLease),
			proposed: mk(running, withDetails(func(d *schema.StateDetails) { d.DeploymentConcurrencyLeaseID = ptr(uuid.New()) })),
			dep:      dep(1, "", false, true), client: newClient, status: accept, write: running,
			check: func(t *testing.T, res FlowRunResult) {
				require.Equal(t, lease, *res.Write.StateDetails.DeploymentConcurrencyLeaseID)
			}},
		{name: "reaped lease: slot taken again", initial: was(pending, withLease), proposed: mk(running),
			dep: dep(1, "", true, false), client: newClient, status: accept, write: running,
			check: func(t *testing.T, res FlowRunResult) {
				acquired(300*time.Second)(t, res)
				require.NotEqual(t, lease, res.Deployment.Acquire.LeaseID)
			}},
		{name: "reaped lease and no slot: cancelled", initial: was(pending, withLease), proposed: mk(running),
			dep: dep(1, "", false, false), client: newClient, status: reject,
			reason: "Deployment concurrency limit reached after lease expiry.", write: cancelled,
			check: func(t *testing.T, res FlowRunResult) {
				require.Equal(t, "Deployment concurrency slot lost during provisioning - no slots available to continue execution", *res.Write.Message)
				// Leaving PENDING for Cancelled gives back what is left of the lease.
				require.Equal(t, &lease, res.Deployment.Release)
				require.Nil(t, res.Deployment.Acquire)
			}},
		{name: "old client: lease pinned, not renewed", initial: was(pending, withLease), proposed: mk(running),
			dep: dep(1, "", false, false), client: oldClient, status: accept, write: running,
			check: func(t *testing.T, res FlowRunResult) {
				require.Equal(t, &lease, res.Deployment.Pin)
				require.Nil(t, res.Deployment.Renew)
			}},
		{name: "unknown client is old", initial: was(pending, withLease), proposed: mk(cancelling),
			dep: dep(1, "", false, true), status: accept, write: cancelling,
			check: func(t *testing.T, res FlowRunResult) { require.Equal(t, &lease, res.Deployment.Pin) }},
		{name: "running without a lease", initial: was(pending), proposed: mk(running),
			dep: dep(1, "", false, false), client: newClient, status: accept, write: running, check: noEffects},
		{name: "completion releases", initial: was(running, withLease), proposed: mk(completed),
			dep: dep(1, "", false, true), client: newClient, status: accept, write: completed,
			check: func(t *testing.T, res FlowRunResult) {
				require.Equal(t, &lease, res.Deployment.Release)
				require.Nil(t, res.Deployment.Acquire)
			}},
		{name: "forced crash releases", initial: was(running, withLease), proposed: mk(crashed), force: true,
			status: accept, write: crashed, check: func(t *testing.T, res FlowRunResult) {
				require.Equal(t, &lease, res.Deployment.Release)
			}},
		{name: "cancelling to cancelled releases", initial: was(cancelling, withLease), proposed: mk(cancelled),
			status: accept, write: cancelled, check: func(t *testing.T, res FlowRunResult) {
				require.Equal(t, &lease, res.Deployment.Release)
			}},
		{name: "a rejected completion keeps the lease", initial: was(cancelling, withLease), proposed: mk(completed),
			status: reject, reason: "Cannot transition flows that are cancelling to a state other than Cancelled.", check: noEffects},
		{name: "running to cancelling keeps the lease", initial: was(running, withLease), proposed: mk(cancelling),
			status: accept, write: cancelling, check: noEffects},
		{name: "late on a full cancel-new deployment: cancelled", initial: was(sched), proposed: mk(sched, named("Late")),
			policy: MarkLateRunsPolicy, dep: dep(1, schema.CollisionCancelNew, false, false), status: reject,
			reason: "Deployment concurrency limit reached.", write: cancelled, check: noEffects},
		{name: "late on a full enqueue deployment", initial: was(sched), proposed: mk(sched, named("Late")),
			policy: MarkLateRunsPolicy, dep: dep(1, schema.CollisionEnqueue, false, false), status: accept, write: sched, wname: "Late"},
		{name: "late with a free slot", initial: was(sched), proposed: mk(sched, named("Late")),
			policy: MarkLateRunsPolicy, dep: dep(1, schema.CollisionCancelNew, true, false), status: accept, write: sched, wname: "Late"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := newFlowRun(c.initial)
			if !c.noDep {
				withDeployment(&run)
			}
			res := FlowRun(FlowRunContext{Run: run, Proposed: c.proposed, Force: c.force, Policy: c.policy, Now: t0,
				Deployment: c.dep, ClientVersion: c.client})
			requireVerdict(t, res.Result, c.status, c.reason, c.write, c.wname)
			if c.check != nil {
				c.check(t, res)
			}
		})
	}
}

func TestSecureFlowConcurrencySlotsSettings(t *testing.T) {
	run := newFlowRun(was(sched))
	withDeployment(&run)
	res := FlowRun(FlowRunContext{Run: run, Proposed: mk(pending), Now: t0,
		Deployment:          &DeploymentConcurrency{Limit: ptr(1)},
		ConcurrencySlotWait: 5 * time.Second})
	require.Equal(t, t0.Add(5*time.Second), *res.Write.StateDetails.ScheduledTime)
	res = FlowRun(FlowRunContext{Run: run, Proposed: mk(pending), Now: t0,
		Deployment:                     &DeploymentConcurrency{Limit: ptr(1), SlotAvailable: true},
		InitialDeploymentLeaseDuration: time.Minute})
	require.Equal(t, time.Minute, res.Deployment.Acquire.TTL)
}
