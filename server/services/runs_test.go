package services_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/runs"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// newRuns is the runs service over st, its flow-run events emitted to ev
// (nil: none), as the server wires it.
func newRuns(st store.Store, ev events.EventEmitter) *runs.Service {
	var fe runs.Events
	if ev != nil {
		fe = events.NewFlowRunEvents(ev, st, nil)
	}
	return runs.New(storetest.Writes(st), fe, runs.Config{})
}

// recorder collects emitted events.
type recorder struct {
	mu     sync.Mutex
	events []schema.Event
}

func (r *recorder) Emit(_ context.Context, evs ...schema.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, evs...)
	return nil
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Event)
	}
	return out
}

// newFlowRun creates a run and walks it through states (forced, as a
// client's initial state is), with mutate applied to the run first.
func newFlowRun(t *testing.T, st store.Store, flowID uuid.UUID, mutate func(*schema.FlowRun), states ...schema.StateCreate) schema.FlowRun {
	t.Helper()
	return newFlowRunAt(t, st, flowID, time.Now(), mutate, states...)
}

// newFlowRunAt is newFlowRun with the first state at start and each next
// one a millisecond later.
func newFlowRunAt(t *testing.T, st store.Store, flowID uuid.UUID, start time.Time, mutate func(*schema.FlowRun), states ...schema.StateCreate) schema.FlowRun {
	t.Helper()
	now := start.UTC()
	run := schema.FlowRun{ID: uuid.Must(uuid.NewV7()), Name: "run", FlowID: flowID, Parameters: json.RawMessage(`{}`),
		Context: json.RawMessage(`{}`), Labels: json.RawMessage(`{}`), JobVariables: json.RawMessage(`{}`), Tags: []string{},
		EmpiricalPolicy: schema.FlowRunPolicy{PauseKeys: []string{}}}
	if mutate != nil {
		mutate(&run)
	}
	stored := storetest.FlowRun(t, st, run, states[0], now)
	for _, s := range states[1:] {
		now = now.Add(time.Millisecond)
		storetest.ForceFlowRunState(t, st, stored.ID, s, now)
	}
	return readRun(t, st, stored.ID)
}

func newTaskRun(t *testing.T, st store.Store, flowRunID uuid.UUID, key string, state schema.StateType) schema.TaskRun {
	t.Helper()
	now := time.Now().UTC()
	run := schema.TaskRun{ID: uuid.Must(uuid.NewV7()), Name: key, FlowRunID: &flowRunID, TaskKey: key, DynamicKey: "0",
		Tags: []string{}, Labels: json.RawMessage(`{}`), TaskInputs: json.RawMessage(`{}`)}
	res := orchestration.TaskRun(orchestration.TaskRunContext{Run: run, Proposed: schema.StateCreate{Type: state}.ToState(now), Force: true, Now: now})
	run = res.Run
	run.State = res.Write
	stored, _, err := storetest.Writes(st).CreateTaskRun(context.Background(), run, nil)
	require.NoError(t, err)
	return stored
}

func state(typ schema.StateType) schema.StateCreate { return schema.StateCreate{Type: typ} }

func scheduledAt(at time.Time, name string) schema.StateCreate {
	at = at.UTC()
	s := schema.StateCreate{Type: schema.StateScheduled, StateDetails: schema.StateDetails{ScheduledTime: &at}}
	if name != "" {
		s.Name = &name
	}
	return s
}

func readTaskRun(t *testing.T, st store.Store, id uuid.UUID) schema.TaskRun {
	t.Helper()
	r, err := st.ReadTaskRun(context.Background(), id)
	require.NoError(t, err)
	return r
}

func readRun(t *testing.T, st store.Store, id uuid.UUID) schema.FlowRun {
	t.Helper()
	r, err := st.ReadFlowRun(context.Background(), id)
	require.NoError(t, err)
	return r
}

// Scheduled runs more than After past their time become Late, keeping their
// scheduled time; others, and runs already Late, are left alone.
func TestLateRunsMarksOnlyOverdueScheduledRuns(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		f := storetest.Flow(t, st, "f-"+uuid.NewString())
		now := time.Now().UTC()
		overdue := newFlowRun(t, st, f.ID, nil, scheduledAt(now.Add(-time.Minute), ""))
		recent := newFlowRun(t, st, f.ID, nil, scheduledAt(now.Add(-5*time.Second), ""))
		future := newFlowRun(t, st, f.ID, nil, scheduledAt(now.Add(time.Hour), ""))
		pending := newFlowRun(t, st, f.ID, nil, scheduledAt(now.Add(-time.Hour), ""), state(schema.StatePending))
		retrying := newFlowRun(t, st, f.ID, nil, scheduledAt(now.Add(-time.Hour), "AwaitingRetry"))

		ev := &recorder{}
		svc := services.LateRuns{Store: st, Runs: newRuns(st, ev), After: 15 * time.Second}
		n, err := svc.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		late := readRun(t, st, overdue.ID)
		require.Equal(t, schema.StateScheduled, late.State.Type)
		require.Equal(t, "Late", late.State.Name)
		require.True(t, late.State.StateDetails.ScheduledTime.Equal(*overdue.NextScheduledStartTime))
		require.Equal(t, []string{"prefect.flow-run.Late"}, ev.names())
		for _, id := range []uuid.UUID{recent.ID, future.ID, retrying.ID} {
			require.Equal(t, readRun(t, st, id).State.Name, map[uuid.UUID]string{recent.ID: "Scheduled", future.ID: "Scheduled", retrying.ID: "AwaitingRetry"}[id])
		}
		require.Equal(t, schema.StatePending, readRun(t, st, pending.ID).State.Type)

		n, err = svc.RunOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "a Late run is not marked twice")

		// Passes at once (replicas) mark each run once.
		more := newFlowRun(t, st, f.ID, nil, scheduledAt(now.Add(-time.Minute), ""))
		var wg sync.WaitGroup
		total := make(chan int, 5)
		for range 5 {
			wg.Go(func() {
				n, err := svc.RunOnce(ctx)
				require.NoError(t, err)
				total <- n
			})
		}
		wg.Wait()
		close(total)
		sum := 0
		for n := range total {
			sum += n
		}
		require.Equal(t, 1, sum)
		states, err := st.ReadFlowRunStates(ctx, more.ID)
		require.NoError(t, err)
		require.Len(t, states, 2, "Scheduled, then one Late")
	})
}

// A paused run past its pause timeout fails; one still within it, or
// without a timeout, stays paused. Paging by id visits every paused run.
func TestPauseExpirationsFailsOnlyExpiredPauses(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		f := storetest.Flow(t, st, "f-"+uuid.NewString())
		paused := func(timeout *time.Time) schema.FlowRun {
			p := schema.StateCreate{Type: schema.StatePaused, StateDetails: schema.StateDetails{PauseTimeout: timeout}}
			return newFlowRun(t, st, f.ID, nil, state(schema.StateRunning), p)
		}
		past, future := time.Now().Add(-time.Minute).UTC(), time.Now().Add(time.Hour).UTC()
		expired := []schema.FlowRun{paused(&past), paused(&past), paused(&past)}
		waiting := paused(&future)
		unbounded := paused(nil)

		ev := &recorder{}
		n, err := services.PauseExpirations{Store: st, Runs: newRuns(st, ev), BatchSize: 1}.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		for _, r := range expired {
			got := readRun(t, st, r.ID)
			require.Equal(t, schema.StateFailed, got.State.Type)
			require.Equal(t, "The flow was paused and never resumed.", *got.State.Message)
		}
		require.Equal(t, schema.StatePaused, readRun(t, st, waiting.ID).State.Type)
		require.Equal(t, schema.StatePaused, readRun(t, st, unbounded.ID).State.Type)
		require.Equal(t, []string{"prefect.flow-run.Failed", "prefect.flow-run.Failed", "prefect.flow-run.Failed"}, ev.names())

		n, err = services.PauseExpirations{Store: st, Runs: newRuns(st, nil)}.RunOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

// A paused subflow failed by the pause-expiration service takes its parent
// task run with it, as every subflow transition does (the API and the
// services once updated the parent along different paths, and only the
// API's did).
func TestPauseExpirationsUpdateASubflowsParentTaskRun(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		f := storetest.Flow(t, st, "f-"+uuid.NewString())
		parent := newFlowRun(t, st, f.ID, nil, state(schema.StateRunning))
		parentTask := newTaskRun(t, st, parent.ID, "subflow", schema.StateRunning)
		past := time.Now().Add(-time.Minute).UTC()
		subflow := newFlowRun(t, st, f.ID, func(r *schema.FlowRun) { r.ParentTaskRunID = &parentTask.ID },
			state(schema.StateRunning), schema.StateCreate{Type: schema.StatePaused, StateDetails: schema.StateDetails{PauseTimeout: &past}})

		n, err := services.PauseExpirations{Store: st, Runs: newRuns(st, nil)}.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, schema.StateFailed, readRun(t, st, subflow.ID).State.Type)

		tr := readTaskRun(t, st, parentTask.ID)
		require.Equal(t, schema.StateFailed, tr.State.Type)
		require.Equal(t, "The flow was paused and never resumed.", *tr.State.Message)
		require.Equal(t, subflow.ID, *tr.State.StateDetails.ChildFlowRunID)
	})
}

// A cancelled run's unfinished task runs become Cancelled; its subflows
// become Cancelled, or Cancelling when deployed (their worker stops them);
// the children of a run that is not cancelled are left alone.
func TestCancellationCleanupCancelsTheChildrenOfCancelledRuns(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		ctx := context.Background()
		f := storetest.Flow(t, st, "f-"+uuid.NewString())
		cancelled := newFlowRun(t, st, f.ID, nil, state(schema.StateRunning), state(schema.StateCancelled))
		require.NotNil(t, cancelled.EndTime)
		running := newFlowRun(t, st, f.ID, nil, state(schema.StateRunning))

		taskRunning := newTaskRun(t, st, cancelled.ID, "a", schema.StateRunning)
		taskPending := newTaskRun(t, st, cancelled.ID, "b", schema.StatePending)
		taskDone := newTaskRun(t, st, cancelled.ID, "c", schema.StateCompleted)
		otherTask := newTaskRun(t, st, running.ID, "d", schema.StateRunning)

		parentTask := newTaskRun(t, st, cancelled.ID, "subflow", schema.StateCompleted)
		subflow := newFlowRun(t, st, f.ID, func(r *schema.FlowRun) { r.ParentTaskRunID = &parentTask.ID }, state(schema.StateRunning))
		deployment := uuid.New()
		deployed := newFlowRun(t, st, f.ID, func(r *schema.FlowRun) { r.ParentTaskRunID = &parentTask.ID; r.DeploymentID = &deployment },
			state(schema.StateRunning))
		otherParent := newTaskRun(t, st, running.ID, "subflow", schema.StateRunning)
		liveSubflow := newFlowRun(t, st, f.ID, func(r *schema.FlowRun) { r.ParentTaskRunID = &otherParent.ID }, state(schema.StateRunning))

		ev := &recorder{}
		res, err := services.CancellationCleanup{Store: st, Runs: newRuns(st, ev), BatchSize: 2}.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, services.CleanupResult{TaskRuns: 2, Subflows: 2}, res)

		for _, id := range []uuid.UUID{taskRunning.ID, taskPending.ID} {
			tr, err := st.ReadTaskRun(ctx, id)
			require.NoError(t, err)
			require.Equal(t, schema.StateCancelled, tr.State.Type)
			require.Equal(t, "The parent flow run was cancelled.", *tr.State.Message)
		}
		for id, want := range map[uuid.UUID]schema.StateType{taskDone.ID: schema.StateCompleted, otherTask.ID: schema.StateRunning} {
			tr, err := st.ReadTaskRun(ctx, id)
			require.NoError(t, err)
			require.Equal(t, want, tr.State.Type)
		}
		require.Equal(t, schema.StateCancelled, readRun(t, st, subflow.ID).State.Type)
		require.Equal(t, schema.StateCancelling, readRun(t, st, deployed.ID).State.Type)
		require.Equal(t, schema.StateRunning, readRun(t, st, liveSubflow.ID).State.Type)
		require.ElementsMatch(t, []string{"prefect.flow-run.Cancelled", "prefect.flow-run.Cancelling"}, ev.names())

		// The subflows' states were copied onto their parent task run (as
		// after every subflow transition), the last one Cancelling; the next
		// pass cancels it like any unfinished task run of a cancelled run.
		require.Equal(t, schema.StateCancelling, readTaskRun(t, st, parentTask.ID).State.Type)
		res, err = services.CancellationCleanup{Store: st, Runs: newRuns(st, nil)}.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, services.CleanupResult{TaskRuns: 1}, res)

		// Again: the cancelling deployed subflow is its worker's to finish.
		res, err = services.CancellationCleanup{Store: st, Runs: newRuns(st, nil)}.RunOnce(ctx)
		require.NoError(t, err)
		require.Zero(t, res)
	})
}
