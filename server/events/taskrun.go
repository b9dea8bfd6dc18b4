package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const (
	taskRunPrefix = "prefect.task-run."
	flowRunPrefix = "prefect.flow-run."
)

// IsClientTaskRunEvent reports whether the task-run recorder records ev: a
// task-run state change that client-side orchestration reported.
func IsClientTaskRunEvent(ev schema.Event) bool {
	return strings.HasPrefix(ev.Event, taskRunPrefix) && ev.Resource["prefect.orchestration"] == "client"
}

// TaskRunFromEvent builds the task run and its new state from a client's
// prefect.task-run.<State> event, as Prefect's task_run_recorder does:
//   - the id comes from the resource id prefect.task-run.<uuid>, the flow run
//     id from the first related resource in role flow-run;
//   - every other field from payload.task_run (fields it carries override);
//   - the state from payload.validated_state, with id = the event's id and
//     timestamp = occurred unless the payload carries them, and the run's
//     state_id, state_type and state_name denormalised from it.
//
// created, updated, estimated_run_time and estimated_start_time_delta are left
// zero: the store and the server compute them.
func TaskRunFromEvent(ev schema.Event) (schema.TaskRun, error) {
	taskRunID, err := objectID(ev.Resource.ID(), taskRunPrefix)
	if err != nil {
		return schema.TaskRun{}, err
	}
	var flowRunID *uuid.UUID
	for _, r := range ev.Related {
		if r.Role() == "flow-run" {
			id, err := objectID(r.ID(), flowRunPrefix)
			if err != nil {
				return schema.TaskRun{}, err
			}
			flowRunID = &id
			break
		}
	}

	var payload struct {
		ValidatedState *schema.StateCreate `json:"validated_state"`
		TaskRun        *schema.TaskRun     `json:"task_run"`
	}
	if err := json.Unmarshal(ev.Payload, &payload); err != nil {
		return schema.TaskRun{}, fmt.Errorf("payload: %w", err)
	}
	if payload.ValidatedState == nil {
		return schema.TaskRun{}, fmt.Errorf("payload.validated_state: missing")
	}
	if payload.TaskRun == nil {
		return schema.TaskRun{}, fmt.Errorf("payload.task_run: missing")
	}
	sc := *payload.ValidatedState
	if err := sc.Validate(); err != nil {
		return schema.TaskRun{}, fmt.Errorf("payload.validated_state: %w", err)
	}
	if sc.ID == nil {
		sc.ID = &ev.ID
	}
	state := sc.ToState(ev.Occurred)
	state.StateDetails.TaskRunID = &taskRunID
	state.StateDetails.FlowRunID = flowRunID

	tr := *payload.TaskRun
	if tr.TaskKey == "" {
		return schema.TaskRun{}, fmt.Errorf("payload.task_run.task_key: missing")
	}
	if tr.ID == uuid.Nil {
		tr.ID = taskRunID
	}
	if tr.FlowRunID == nil {
		tr.FlowRunID = flowRunID
	}
	if tr.Name == "" {
		tr.Name = schema.GenerateSlug()
	}
	if tr.Tags == nil {
		tr.Tags = []string{}
	}
	tr.Labels = objectOrEmpty(tr.Labels)
	tr.TaskInputs = objectOrEmpty(tr.TaskInputs)
	tr.EmpiricalPolicy.Normalize()
	tr.Created, tr.Updated = time.Time{}, time.Time{}
	tr.EstimatedRunTime, tr.EstimatedStartTimeDelta = 0, 0

	tr.State = &state
	tr.StateID = &state.ID
	tr.StateType = &state.Type
	tr.StateName = &state.Name
	return tr, nil
}

// objectID parses the uuid of a resource id such as prefect.task-run.<uuid>.
func objectID(resourceID, prefix string) (uuid.UUID, error) {
	rest, ok := strings.CutPrefix(resourceID, prefix)
	if !ok {
		return uuid.Nil, fmt.Errorf("resource id %s does not start with %s", resourceID, prefix)
	}
	id, err := uuid.Parse(rest)
	if err != nil {
		return uuid.Nil, fmt.Errorf("resource id %s: %w", resourceID, err)
	}
	return id, nil
}

func objectOrEmpty(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || string(v) == "null" {
		return json.RawMessage(`{}`)
	}
	return v
}
