package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tsp(s string) *time.Time { t := ts(s); return &t }

func TestTaskRunFromClientEvents(t *testing.T) {
	t.Parallel()
	raws := sampleEvents(t)
	flowRun1 := uuid.MustParse("bda5de24-ecd7-4ee7-8fd5-d3337f0ff0b4")
	flowRun2 := uuid.MustParse("7d9e7d3e-e002-49ae-958a-6cd4d2e12a09")
	one := 1

	tests := []struct {
		name  string
		index int // line of testdata/client-3.9.1-events.jsonl
		check func(t *testing.T, ev schema.Event, tr schema.TaskRun)
	}{
		{"pending with tags", 1, func(t *testing.T, ev schema.Event, tr schema.TaskRun) {
			require.Equal(t, uuid.MustParse("01a22d46-0a30-71dc-ac82-c492a06cf4e0"), tr.ID)
			require.Equal(t, &flowRun1, tr.FlowRunID)
			require.Equal(t, "add-0df", tr.Name)
			require.Equal(t, "add-83a2f660", tr.TaskKey)
			require.Equal(t, "0df2d674-346f-4642-9336-c1bbb95310d4", tr.DynamicKey)
			require.Equal(t, []string{"alpha", "beta"}, tr.Tags)
			require.JSONEq(t, `{}`, string(tr.Labels))
			require.JSONEq(t, `{"x":[],"y":[]}`, string(tr.TaskInputs))
			require.Equal(t, &one, tr.EmpiricalPolicy.Retries)
			require.JSONEq(t, `0`, string(tr.EmpiricalPolicy.RetryDelay))
			require.Equal(t, 0, tr.RunCount)
			require.Equal(t, 0, tr.FlowRunRunCount)
			require.Equal(t, tsp("2026-11-30T16:24:54.576646Z"), tr.ExpectedStartTime)
			require.Nil(t, tr.StartTime)
			require.Nil(t, tr.EndTime)
			require.True(t, tr.Created.IsZero(), "the store sets created")

			st := tr.State
			require.Equal(t, ev.ID, st.ID, "the state's id is the event's")
			require.Equal(t, ev.Occurred, st.Timestamp)
			require.Equal(t, schema.StatePending, st.Type)
			require.Equal(t, "Pending", st.Name)
			require.Equal(t, "", *st.Message)
			require.Nil(t, st.Data)
			require.Equal(t, &tr.ID, st.StateDetails.TaskRunID)
			require.Equal(t, &flowRun1, st.StateDetails.FlowRunID)
			require.Equal(t, &st.ID, tr.StateID)
			require.Equal(t, schema.StatePending, *tr.StateType)
			require.Equal(t, "Pending", *tr.StateName)
		}},
		{"completed", 3, func(t *testing.T, ev schema.Event, tr schema.TaskRun) {
			require.Equal(t, 1, tr.RunCount)
			require.Equal(t, 1, tr.FlowRunRunCount)
			require.Equal(t, tsp("2026-11-30T16:24:54.686027Z"), tr.StartTime)
			require.Equal(t, tsp("2026-11-30T16:24:54.688639Z"), tr.EndTime)
			require.InDelta(t, 0.002612, tr.TotalRunTime, 1e-9)
			require.Equal(t, schema.StateCompleted, *tr.StateType)
			require.True(t, tr.State.StateDetails.UntrackableResult)
			require.Equal(t, ts("2026-11-30T16:24:54.688639Z"), tr.State.Timestamp)
		}},
		{"retrying is a named running state", 9, func(t *testing.T, ev schema.Event, tr schema.TaskRun) {
			require.Equal(t, schema.StateRunning, *tr.StateType)
			require.Equal(t, "Retrying", *tr.StateName)
			require.Equal(t, 2, tr.RunCount)
			require.Empty(t, tr.Tags)
			require.NotNil(t, tr.Tags)
		}},
		{"failed with a message", 10, func(t *testing.T, ev schema.Event, tr schema.TaskRun) {
			require.Equal(t, schema.StateFailed, *tr.StateType)
			require.Equal(t, "Task run encountered an exception ValueError: boom", *tr.State.Message)
			require.Equal(t, false, *tr.State.StateDetails.Retriable)
		}},
		{"completed with persisted result metadata", 14, func(t *testing.T, ev schema.Event, tr schema.TaskRun) {
			require.Equal(t, &flowRun2, tr.FlowRunID)
			require.NotNil(t, tr.State.Data)
			var data map[string]any
			require.NoError(t, json.Unmarshal(*tr.State.Data, &data))
			require.Equal(t, map[string]any{"type": "pickle"}, data["serializer"])
			require.Equal(t, "3.9.1", data["prefect_version"])
		}},
		{"inputs from another task", 15, func(t *testing.T, ev schema.Event, tr schema.TaskRun) {
			require.JSONEq(t, `{"v":[{"input_type":"task_run","id":"01a22d46-317a-7bb2-89be-a6c230d1d418"}]}`, string(tr.TaskInputs))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := DecodeEvent(raws[tt.index], Limits{})
			require.NoError(t, err)
			require.True(t, IsClientTaskRunEvent(ev))
			tr, err := TaskRunFromEvent(ev)
			require.NoError(t, err)
			tt.check(t, ev, tr)
		})
	}
}

func TestIsClientTaskRunEvent(t *testing.T) {
	t.Parallel()
	heartbeat, err := DecodeEvent(sampleEvents(t)[0], Limits{})
	require.NoError(t, err)
	require.False(t, IsClientTaskRunEvent(heartbeat))

	server := schema.Event{Event: "prefect.task-run.Running", Resource: schema.Resource{"prefect.resource.id": "prefect.task-run.x"}}
	require.False(t, IsClientTaskRunEvent(server), "server-orchestrated task runs are already stored")
	server.Resource["prefect.orchestration"] = "client"
	require.True(t, IsClientTaskRunEvent(server))
}

func TestTaskRunFromEventErrors(t *testing.T) {
	t.Parallel()
	base := func() schema.Event {
		ev, err := DecodeEvent(sampleEvents(t)[1], Limits{})
		require.NoError(t, err)
		return ev
	}
	tests := []struct {
		name   string
		mutate func(ev *schema.Event)
		err    string
	}{
		{"resource of another kind", func(ev *schema.Event) { ev.Resource = schema.Resource{"prefect.resource.id": "prefect.flow-run.x"} },
			"resource id prefect.flow-run.x does not start with prefect.task-run."},
		{"resource id not a uuid", func(ev *schema.Event) { ev.Resource = schema.Resource{"prefect.resource.id": "prefect.task-run.x"} },
			"resource id prefect.task-run.x: invalid UUID length: 1"},
		{"flow-run not a uuid", func(ev *schema.Event) {
			ev.Related = []schema.Resource{{"prefect.resource.id": "prefect.flow-run.x", "prefect.resource.role": "flow-run"}}
		}, "resource id prefect.flow-run.x: invalid UUID length: 1"},
		{"no validated state", func(ev *schema.Event) { ev.Payload = json.RawMessage(`{"task_run":{"task_key":"k"}}`) },
			"payload.validated_state: missing"},
		{"no task run", func(ev *schema.Event) { ev.Payload = json.RawMessage(`{"validated_state":{"type":"RUNNING"}}`) },
			"payload.task_run: missing"},
		{"unknown state type", func(ev *schema.Event) {
			ev.Payload = json.RawMessage(`{"validated_state":{"type":"NAPPING"},"task_run":{"task_key":"k"}}`)
		}, `payload.validated_state: state.type: value is not a valid state type: "NAPPING"`},
		{"no task key", func(ev *schema.Event) {
			ev.Payload = json.RawMessage(`{"validated_state":{"type":"RUNNING"},"task_run":{}}`)
		}, "payload.task_run.task_key: missing"},
		{"payload of the wrong shape", func(ev *schema.Event) {
			ev.Payload = json.RawMessage(`{"validated_state":{"type":"RUNNING"},"task_run":{"run_count":"many"}}`)
		}, "payload: json: cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := base()
			tt.mutate(&ev)
			_, err := TaskRunFromEvent(ev)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestTaskRunFromEventWithoutFlowRun(t *testing.T) {
	t.Parallel()
	ev, err := DecodeEvent(sampleEvents(t)[1], Limits{})
	require.NoError(t, err)
	ev.Related = nil // a task called outside a flow
	ev.Payload = json.RawMessage(`{"validated_state":{"type":"SCHEDULED","name":"AwaitingRetry"},"task_run":{"task_key":"k"}}`)
	tr, err := TaskRunFromEvent(ev)
	require.NoError(t, err)
	require.Nil(t, tr.FlowRunID)
	require.Nil(t, tr.State.StateDetails.FlowRunID)
	require.NotEmpty(t, tr.Name, "Prefect's default name, a slug")
	require.Equal(t, &ev.Occurred, tr.State.StateDetails.ScheduledTime)
}
