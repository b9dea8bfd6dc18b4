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

func newRun(flowID uuid.UUID) schema.FlowRun {
	return schema.FlowRun{ID: uuid.Must(uuid.NewV7()), Name: "brave-otter", FlowID: flowID,
		Parameters: json.RawMessage(`{"x":1}`), Context: json.RawMessage(`{}`), Labels: json.RawMessage(`{}`),
		JobVariables: json.RawMessage(`{}`), Tags: []string{"nightly"}, EmpiricalPolicy: schema.FlowRunPolicy{PauseKeys: []string{}}}
}

// transition proposes a state through the real orchestration policy.
func transition(s store.Store, id uuid.UUID, typ schema.StateType, now time.Time) (orchestration.FlowRunResult, error) {
	return Writes(s).SetFlowRunState(context.Background(), id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
		return orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Deployment: dep, Proposed: schema.StateCreate{Type: typ}.ToState(now), Now: now})
	})
}

func TestFlowRunLifecycle(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "lifecycle")

		now := time.Now().UTC().Truncate(time.Microsecond)
		run := newRun(f.ID)
		run.IdempotencyKey = ptr("key-1")
		res := orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Proposed: schema.StateCreate{Type: schema.StatePending}.ToState(now), Force: true, Now: now})
		run = res.Run
		run.State = res.Write
		stored, created, err := Writes(s).CreateFlowRun(ctx, run)
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, schema.StatePending, stored.State.Type)

		dup := newRun(f.ID)
		dup.IdempotencyKey = ptr("key-1")
		again, created, err := Writes(s).CreateFlowRun(ctx, dup)
		require.NoError(t, err)
		require.False(t, created, "the idempotency key returns the first run")
		require.Equal(t, run.ID, again.ID)

		r, err := transition(s, run.ID, schema.StateRunning, now.Add(time.Second))
		require.NoError(t, err)
		require.Equal(t, schema.StatusAccept, r.Status)
		r, err = transition(s, run.ID, schema.StateCompleted, now.Add(3*time.Second))
		require.NoError(t, err)
		require.Equal(t, schema.StatusAccept, r.Status)

		got, err := s.ReadFlowRun(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, schema.StateCompleted, *got.StateType)
		require.Equal(t, "Completed", got.State.Name)
		require.Equal(t, 1, got.RunCount)
		require.NotNil(t, got.StartTime)
		require.NotNil(t, got.EndTime)
		require.InDelta(t, 2.0, got.TotalRunTime, 0.001)
		require.JSONEq(t, `{"x":1}`, string(got.Parameters))

		states, err := s.ReadFlowRunStates(ctx, run.ID)
		require.NoError(t, err)
		require.Len(t, states, 3)
		require.Equal(t, []schema.StateType{schema.StatePending, schema.StateRunning, schema.StateCompleted},
			[]schema.StateType{states[0].Type, states[1].Type, states[2].Type})

		// A finished run cannot be cancelled: ABORT, and nothing is written.
		r, err = transition(s, run.ID, schema.StateCancelling, now.Add(4*time.Second))
		require.NoError(t, err)
		require.Equal(t, schema.StatusAbort, r.Status)
		require.Nil(t, r.Write)
		states, err = s.ReadFlowRunStates(ctx, run.ID)
		require.NoError(t, err)
		require.Len(t, states, 3)

		// Filters on state, tags and the flow.
		q := schema.Query{FlowRuns: &schema.FlowRunFilter{State: &schema.StateFilter{Type: &schema.StateTypeFilter{Any: []schema.StateType{schema.StateCompleted}}}, Tags: &schema.TagsFilter{All: []string{"nightly"}}},
			Flows: &schema.FlowFilter{Name: &schema.TextFilter{Any: []string{"lifecycle"}}}}
		runs, err := s.FilterFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		n, err := s.CountFlowRuns(ctx, schema.Query{FlowRuns: &schema.FlowRunFilter{State: &schema.StateFilter{Type: &schema.StateTypeFilter{Any: []schema.StateType{schema.StateFailed}}}}})
		require.NoError(t, err)
		require.Zero(t, n)

		require.NoError(t, s.MergeFlowRunLabels(ctx, run.ID, json.RawMessage(`{"team":"data"}`)))
		require.NoError(t, s.UpdateFlowRun(ctx, run.ID, schema.FlowRunUpdate{Name: ptr("renamed")}))
		got, err = s.ReadFlowRun(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, "renamed", got.Name)
		require.JSONEq(t, `{"team":"data"}`, string(got.Labels))

		require.NoError(t, s.DeleteFlowRun(ctx, run.ID))
		require.ErrorIs(t, s.DeleteFlowRun(ctx, run.ID), schema.ErrNotFound)
	})
}

func TestStateTimestampsAreUnique(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		f := Flow(t, s, "same-time")
		now := time.Now().UTC().Truncate(time.Microsecond)
		run := FlowRun(t, s, newRun(f.ID), schema.StateCreate{Type: schema.StatePending}, now)
		// Proposed at the same instant as the initial state: stored 1µs later.
		r, err := transition(s, run.ID, schema.StateRunning, now)
		require.NoError(t, err)
		require.Equal(t, now.Add(time.Microsecond), r.Write.Timestamp)
	})
}

func TestTaskRunRecorderWrites(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "tasks")
		run := newRun(f.ID)
		_, _, err := Writes(s).CreateFlowRun(ctx, run)
		require.NoError(t, err)

		t0 := time.Now().UTC().Truncate(time.Microsecond)
		taskID := uuid.Must(uuid.NewV7())
		at := func(typ schema.StateType, offset time.Duration, runCount int) schema.TaskRun {
			st := schema.State{ID: uuid.Must(uuid.NewV7()), Type: typ, Name: typ.DefaultName(), Timestamp: t0.Add(offset)}
			tt := st.Type
			return schema.TaskRun{ID: taskID, Name: "extract-0", FlowRunID: &run.ID, TaskKey: "extract", DynamicKey: "0",
				Tags: []string{}, State: &st, StateType: &tt, StateName: &st.Name, RunCount: runCount}
		}
		pending, running, done := at(schema.StatePending, 0, 0), at(schema.StateRunning, time.Second, 1), at(schema.StateCompleted, 2*time.Second, 1)

		require.NoError(t, s.RecordTaskRunStates(ctx, []schema.TaskRun{pending, running}))
		require.NoError(t, s.RecordTaskRunStates(ctx, []schema.TaskRun{done}))
		// Replayed and out-of-order events change nothing.
		require.NoError(t, s.RecordTaskRunStates(ctx, []schema.TaskRun{running, pending, done}))

		got, err := s.ReadTaskRun(ctx, taskID)
		require.NoError(t, err)
		require.Equal(t, schema.StateCompleted, *got.StateType)
		require.Equal(t, done.State.ID, got.State.ID)
		require.Equal(t, 1, got.RunCount)
		states, err := s.ReadTaskRunStates(ctx, taskID)
		require.NoError(t, err)
		require.Len(t, states, 3)

		runs, err := s.FilterTaskRuns(ctx, schema.Query{FlowRuns: &schema.FlowRunFilter{ID: &schema.IDFilter{Any: []uuid.UUID{run.ID}}}})
		require.NoError(t, err)
		require.Len(t, runs, 1)

		// A new run whose reports arrive newest first, in one batch, is
		// written as its newest report, with every state.
		taskID = uuid.Must(uuid.NewV7())
		pending, running, done = at(schema.StatePending, 0, 0), at(schema.StateRunning, time.Second, 1), at(schema.StateCompleted, 2*time.Second, 1)
		require.NoError(t, s.RecordTaskRunStates(ctx, []schema.TaskRun{done, running, pending}))
		got, err = s.ReadTaskRun(ctx, taskID)
		require.NoError(t, err)
		require.Equal(t, done.State.ID, got.State.ID)
		require.Equal(t, schema.StateCompleted, *got.StateType)
		states, err = s.ReadTaskRunStates(ctx, taskID)
		require.NoError(t, err)
		require.Len(t, states, 3)
	})
}
