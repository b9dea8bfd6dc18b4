package events

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestFlowRunStateChanged(t *testing.T) {
	t.Parallel()
	var (
		runID      = uuid.MustParse("11111111-1111-1111-1111-111111111111")
		flowID     = uuid.MustParse("22222222-2222-2222-2222-222222222222")
		depID      = uuid.MustParse("33333333-3333-3333-3333-333333333333")
		queueID    = uuid.MustParse("44444444-4444-4444-4444-444444444444")
		poolID     = uuid.MustParse("55555555-5555-5555-5555-555555555555")
		parentID   = uuid.MustParse("66666666-6666-6666-6666-666666666666")
		initialID  = uuid.MustParse("01a22d46-0000-7000-8000-000000000001")
		validID    = uuid.MustParse("01a22d46-0000-7000-8000-000000000002")
		queueName  = "default"
		poolName   = "pool"
		creator    = "DEPLOYMENT"
		creatorVal = "my-deployment"
		message    = "All good"
		at         = time.Date(2026, 11, 30, 16, 24, 54, 576646000, time.UTC)
	)
	run := schema.FlowRun{
		ID: runID, Name: "proud-fulmar", FlowID: flowID, RunCount: 1,
		Tags:         []string{"b", "a"},
		DeploymentID: &depID, WorkQueueID: &queueID, WorkQueueName: &queueName,
		WorkPoolID: &poolID, WorkPoolName: &poolName,
		CreatedBy: &schema.CreatedBy{ID: &depID, Type: &creator, DisplayValue: &creatorVal},
	}
	initial := schema.State{ID: initialID, Type: schema.StatePending, Name: "Pending", Timestamp: at.Add(-time.Second)}
	validated := schema.State{ID: validID, Type: schema.StateRunning, Name: "Running", Timestamp: at, Message: &message}
	rel := FlowRunRelated{
		FlowName: "sample-flow", FlowTags: []string{"a", "flow-tag"},
		DeploymentName: "my-deployment", DeploymentTags: []string{"dep-tag"},
		WorkPoolType:  "process",
		ParentTaskRun: &RelatedTaskRun{ID: parentID, Name: "parent-task", Tags: []string{"task-tag"}},
	}

	ev := FlowRunStateChanged(run, &initial, validated, rel)

	require.Equal(t, validID, ev.ID, "the event id is the validated state's id")
	require.Equal(t, at, ev.Occurred)
	require.Equal(t, "prefect.flow-run.Running", ev.Event)
	require.Equal(t, &initialID, ev.Follows)
	require.True(t, ev.Received.IsZero())
	require.Equal(t, schema.Resource{
		"prefect.resource.id":     "prefect.flow-run.11111111-1111-1111-1111-111111111111",
		"prefect.resource.name":   "proud-fulmar",
		"prefect.run-count":       "1",
		"prefect.state-message":   "All good",
		"prefect.state-name":      "Running",
		"prefect.state-timestamp": "2026-11-30T16:24:54.576646+00:00",
		"prefect.state-type":      "RUNNING",
	}, ev.Resource)
	require.Equal(t, []schema.Resource{
		{"prefect.resource.id": "prefect.flow.22222222-2222-2222-2222-222222222222", "prefect.resource.role": "flow", "prefect.resource.name": "sample-flow"},
		{"prefect.resource.id": "prefect.deployment.33333333-3333-3333-3333-333333333333", "prefect.resource.role": "deployment", "prefect.resource.name": "my-deployment"},
		{"prefect.resource.id": "prefect.work-queue.44444444-4444-4444-4444-444444444444", "prefect.resource.role": "work-queue", "prefect.resource.name": "default"},
		{"prefect.resource.id": "prefect.work-pool.55555555-5555-5555-5555-555555555555", "prefect.resource.role": "work-pool", "prefect.resource.name": "pool", "prefect.work-pool.type": "process"},
		{"prefect.resource.id": "prefect.task-run.66666666-6666-6666-6666-666666666666", "prefect.resource.role": "task-run", "prefect.resource.name": "parent-task"},
		{"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.tag.b", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.tag.dep-tag", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.tag.flow-tag", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.tag.task-tag", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.deployment.33333333-3333-3333-3333-333333333333", "prefect.resource.role": "creator", "prefect.resource.name": "my-deployment"},
	}, ev.Related)
	require.JSONEq(t, `{
		"intended": {"from": "PENDING", "to": "RUNNING"},
		"initial_state": {"type": "PENDING", "name": "Pending"},
		"validated_state": {"type": "RUNNING", "name": "Running", "message": "All good"}
	}`, string(ev.Payload))

	// What the server emits must pass the limits it applies to clients.
	require.NoError(t, Limits{}.Check(ev))
	require.Equal(t, []string{"b", "a"}, run.Tags, "the run is not modified")
}

func TestFlowRunStateChangedFirstState(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 16, 24, 54, 0, time.UTC)
	run := schema.FlowRun{ID: uuid.New(), Name: "r", FlowID: uuid.New()}
	validated := schema.State{Type: schema.StatePaused, Name: "Suspended", Timestamp: at,
		StateDetails: schema.StateDetails{PauseReschedule: true}}

	ev := FlowRunStateChanged(run, nil, validated, FlowRunRelated{FlowName: "f"})

	require.Equal(t, byte(7), ev.ID[6]>>4, "a fresh uuid v7 when the state has no id yet")
	require.Nil(t, ev.Follows)
	require.Equal(t, "2026-11-30T16:24:54+00:00", ev.Resource["prefect.state-timestamp"])
	require.Equal(t, "", ev.Resource["prefect.state-message"])
	require.Equal(t, "0", ev.Resource["prefect.run-count"])
	require.Len(t, ev.Related, 1, "only the flow")
	require.JSONEq(t, `{
		"intended": {"from": null, "to": "PAUSED"},
		"initial_state": null,
		"validated_state": {"type": "PAUSED", "name": "Suspended", "pause_reschedule": "true"}
	}`, string(ev.Payload))
}

func TestFlowRunStateChangedFollowsOnlyTightTiming(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)
	run := schema.FlowRun{ID: uuid.New(), FlowID: uuid.New()}
	initial := schema.State{ID: uuid.New(), Type: schema.StateScheduled, Name: "Scheduled", Timestamp: at.Add(-5 * time.Minute)}
	validated := schema.State{ID: uuid.New(), Type: schema.StatePending, Name: "Pending", Timestamp: at}

	require.Nil(t, FlowRunStateChanged(run, &initial, validated, FlowRunRelated{}).Follows)
	initial.Timestamp = at.Add(-5*time.Minute + time.Microsecond)
	require.Equal(t, &initial.ID, FlowRunStateChanged(run, &initial, validated, FlowRunRelated{}).Follows)
}

func TestTruncatedTo(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", truncatedTo(10, ""))
	require.Equal(t, "0123456789", truncatedTo(10, "0123456789"))
	long := strings.Repeat("é", 50) + strings.Repeat("x", 100) + strings.Repeat("ü", 50)
	require.Equal(t, strings.Repeat("é", 50)+"...100 additional characters..."+strings.Repeat("ü", 50), truncatedTo(100, long))
	// Not shorter once the note is added: kept whole, as in Python.
	require.Equal(t, strings.Repeat("y", 12), truncatedTo(10, strings.Repeat("y", 12)))
}
