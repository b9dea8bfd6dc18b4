package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// The fixture builders below create one object directly through the store,
// fail the test on any error and return what was stored. They are the one
// copy for this suite and for the tests of the packages above the store.

// Flow creates (or finds) the flow called name, with no tags and no labels.
func Flow(tb testing.TB, st store.Store, name string) schema.Flow {
	tb.Helper()
	f, _, err := st.UpsertFlow(context.Background(), schema.FlowCreate{Name: name, Tags: []string{}, Labels: json.RawMessage(`{}`)})
	require.NoError(tb, err)
	return f
}

// Deployment creates (or updates) a deployment from body as the API decodes
// it, so only the keys in body count as sent.
func Deployment(tb testing.TB, st store.Store, body map[string]any) schema.Deployment {
	tb.Helper()
	b, err := json.Marshal(body)
	require.NoError(tb, err)
	var d schema.DeploymentCreate
	require.NoError(tb, json.Unmarshal(b, &d))
	require.NoError(tb, d.Validate())
	dep, _, err := st.UpsertDeployment(context.Background(), d)
	require.NoError(tb, err)
	return dep
}

// FlowRun creates run, forced into state at now as a client's initial state
// is, and returns it as CreateFlowRun stored it. The run must be new (an
// idempotency key of an existing run fails the test).
func FlowRun(tb testing.TB, st store.Store, run schema.FlowRun, state schema.StateCreate, now time.Time) schema.FlowRun {
	tb.Helper()
	res := orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Proposed: state.ToState(now), Force: true, Now: now})
	run = res.Run
	run.State = res.Write
	stored, created, err := Writes(st).CreateFlowRun(context.Background(), run)
	require.NoError(tb, err)
	require.True(tb, created, "flow run %s already existed", run.ID)
	return stored
}

// ForceFlowRunState forces the run into state at now through the
// orchestration policy, as a forced proposal of a client is.
func ForceFlowRunState(tb testing.TB, st store.Store, id uuid.UUID, state schema.StateCreate, now time.Time) {
	tb.Helper()
	_, err := Writes(st).SetFlowRunState(context.Background(), id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
		return orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Deployment: dep, Proposed: state.ToState(now), Force: true, Now: now})
	})
	require.NoError(tb, err)
}

// TaskRun creates run, forced into state at now as a client's initial state
// is (a deferred Scheduled state queues it for the task workers), and
// returns it as CreateTaskRun stored it.
func TaskRun(tb testing.TB, st store.Store, run schema.TaskRun, state schema.StateCreate, now time.Time) schema.TaskRun {
	tb.Helper()
	res := orchestration.TaskRun(orchestration.TaskRunContext{Run: run, Proposed: state.ToState(now), Force: true, Now: now})
	run = res.Run
	run.State = res.Write
	stored, created, err := Writes(st).CreateTaskRun(context.Background(), run, res.Enqueue)
	require.NoError(tb, err)
	require.True(tb, created, "task run %s already existed", run.ID)
	return stored
}

// ProposeTaskRunState proposes state for the task run at now through the
// orchestration policy, as a client's set_state does, and returns the result.
func ProposeTaskRunState(tb testing.TB, st store.Store, id uuid.UUID, state schema.StateCreate, force bool, now time.Time) orchestration.TaskRunResult {
	tb.Helper()
	res, err := Writes(st).SetTaskRunState(context.Background(), id, nil, func(run schema.TaskRun, fr *schema.FlowRun, cached *schema.State) orchestration.TaskRunResult {
		return orchestration.TaskRun(orchestration.TaskRunContext{Run: run, FlowRun: fr, CachedState: cached, Proposed: state.ToState(now), Force: force, Now: now})
	})
	require.NoError(tb, err)
	return res
}

// WorkPool creates a work pool of type "process" called name, with mutate
// applied to the request first.
func WorkPool(tb testing.TB, st store.Store, name string, mutate ...func(*schema.WorkPoolCreate)) schema.WorkPool {
	tb.Helper()
	in := schema.WorkPoolCreate{Name: name, Type: "process"}
	for _, m := range mutate {
		m(&in)
	}
	require.NoError(tb, in.Validate())
	p, err := st.CreateWorkPool(context.Background(), in)
	require.NoError(tb, err)
	return p
}

// ConcurrencyLimit creates an active global concurrency limit of limit
// slots called name, with opts applied to the request first.
func ConcurrencyLimit(tb testing.TB, st store.Store, name string, limit int, opts ...func(*schema.ConcurrencyLimitV2Create)) schema.ConcurrencyLimitV2 {
	tb.Helper()
	in := schema.ConcurrencyLimitV2Create{Name: &name, Limit: &limit}
	for _, o := range opts {
		o(&in)
	}
	require.NoError(tb, in.Validate())
	l, err := st.CreateConcurrencyLimit(context.Background(), in)
	require.NoError(tb, err)
	return l
}

// Automation creates an automation from body as the API decodes it (with
// owner_resource when body has one).
func Automation(tb testing.TB, st store.Store, body map[string]any) schema.Automation {
	tb.Helper()
	b, err := json.Marshal(body)
	require.NoError(tb, err)
	var in schema.AutomationCreate
	require.NoError(tb, json.Unmarshal(b, &in))
	require.NoError(tb, in.Validate())
	a, err := st.CreateAutomation(context.Background(), in)
	require.NoError(tb, err)
	return a
}
