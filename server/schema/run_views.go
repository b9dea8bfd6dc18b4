package schema

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Estimates are Prefect's estimated_run_time and estimated_start_time_delta
// of a run at now, in seconds: the run time so far, counting the current
// RUNNING state, and how late the run started (or, not started and not
// finished, how late it is now).
func Estimates(stateType *StateType, state *State, totalRunTime float64, start, expected *time.Time, now time.Time) (runTime, lateness float64) {
	runTime = totalRunTime
	if stateType != nil && *stateType == StateRunning && state != nil {
		runTime += now.Sub(state.Timestamp).Seconds()
	}
	switch {
	case start != nil && expected != nil && start.After(*expected):
		lateness = start.Sub(*expected).Seconds()
	case start == nil && expected != nil && expected.Before(now) && (stateType == nil || !stateType.Terminal()):
		lateness = now.Sub(*expected).Seconds()
	}
	return runTime, lateness
}

// SimpleFlowRun is one point of the UI's flow-run scatter.
type SimpleFlowRun struct {
	ID        uuid.UUID  `json:"id"`
	StateType *StateType `json:"state_type"`
	// Timestamp is the start time, or the expected one before the run starts.
	Timestamp *time.Time `json:"timestamp"`
	Duration  float64    `json:"duration"`
	Lateness  float64    `json:"lateness"`
}

// UIFlowRunHistoryQuery is the body of POST /ui/flow_runs/history, whose
// page is its own: 1000 runs by default and at most.
type UIFlowRunHistoryQuery struct {
	Flows       *FlowFilter       `json:"flows"`
	FlowRuns    *FlowRunFilter    `json:"flow_runs"`
	TaskRuns    *TaskRunFilter    `json:"task_runs"`
	Deployments *DeploymentFilter `json:"deployments"`
	WorkPools   *WorkPoolFilter   `json:"work_pools"`
	Sort        string            `json:"sort"`
	Page
}

// FlowRunIDs is the body of POST /ui/flow_runs/count-task-runs.
type FlowRunIDs struct {
	FlowRunIDs []uuid.UUID `json:"flow_run_ids"`
}

// EmbeddedBody: flow_run_ids is a Body(embed=True) parameter in Prefect.
func (FlowRunIDs) EmbeddedBody() {}

// Validate checks the list holds at most 200 ids.
func (b *FlowRunIDs) Validate() error {
	if n := len(b.FlowRunIDs); n > 200 {
		return Invalid("flow_run_ids", "List should have at most 200 items after validation, not "+strconv.Itoa(n))
	}
	return nil
}

// CountsByFlowRun is the answer of /ui/flow_runs/count-task-runs: a count
// for each id asked, in the order asked, as Prefect's dict keeps it.
type CountsByFlowRun struct {
	IDs    []uuid.UUID
	Counts map[uuid.UUID]int
}

// MarshalJSON writes the object with its keys in the order asked, once each.
func (c CountsByFlowRun) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := map[uuid.UUID]bool{}
	for _, id := range c.IDs {
		if seen[id] {
			continue
		}
		if len(seen) > 0 {
			b.WriteByte(',')
		}
		seen[id] = true
		b.WriteString(`"` + id.String() + `":` + strconv.Itoa(c.Counts[id]))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// CountByState is Prefect's count of runs for every state type, in its
// field order.
type CountByState struct {
	Completed  int `json:"COMPLETED"`
	Pending    int `json:"PENDING"`
	Running    int `json:"RUNNING"`
	Failed     int `json:"FAILED"`
	Cancelled  int `json:"CANCELLED"`
	Crashed    int `json:"CRASHED"`
	Paused     int `json:"PAUSED"`
	Cancelling int `json:"CANCELLING"`
	Scheduled  int `json:"SCHEDULED"`
}

// Add counts n runs of state type t.
func (c *CountByState) Add(t StateType, n int) {
	switch t {
	case StateCompleted:
		c.Completed += n
	case StatePending:
		c.Pending += n
	case StateRunning:
		c.Running += n
	case StateFailed:
		c.Failed += n
	case StateCancelled:
		c.Cancelled += n
	case StateCrashed:
		c.Crashed += n
	case StatePaused:
		c.Paused += n
	case StateCancelling:
		c.Cancelling += n
	case StateScheduled:
		c.Scheduled += n
	}
}

// TaskRunCountsQuery is the body of POST /ui/task_runs/count.
type TaskRunCountsQuery struct {
	Flows       *FlowFilter       `json:"flows"`
	FlowRuns    *FlowRunFilter    `json:"flow_runs"`
	TaskRuns    *TaskRunFilter    `json:"task_runs"`
	Deployments *DeploymentFilter `json:"deployments"`
}

// EmbeddedBody: every filter is a Body parameter of its own in Prefect.
func (TaskRunCountsQuery) EmbeddedBody() {}

// DashboardCountsQuery is the body of POST /ui/task_runs/dashboard/counts;
// its task_runs filter is required, with a start_time.after_.
type DashboardCountsQuery struct {
	TaskRuns    *TaskRunFilter    `json:"task_runs"`
	Flows       *FlowFilter       `json:"flows"`
	FlowRuns    *FlowRunFilter    `json:"flow_runs"`
	Deployments *DeploymentFilter `json:"deployments"`
	WorkPools   *WorkPoolFilter   `json:"work_pools"`
	WorkQueues  *WorkQueueFilter  `json:"work_queues"`
}

// EmbeddedBody: every filter is a Body parameter of its own in Prefect.
func (DashboardCountsQuery) EmbeddedBody() {}

// TaskRunCount is one of the dashboard's 20 buckets.
type TaskRunCount struct {
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

// UITaskRun is a task run with its flow run's name, as the UI's task-run
// page reads it.
type UITaskRun struct {
	TaskRun
	FlowRunName *string `json:"flow_run_name"`
}

// TaskRunResponse is the smaller task run of /task_runs/paginate
// (Prefect's TaskRunResponse): no keys, labels, state columns or counts.
type TaskRunResponse struct {
	ID                      uuid.UUID       `json:"id"`
	Created                 time.Time       `json:"created"`
	Updated                 time.Time       `json:"updated"`
	Name                    string          `json:"name"`
	FlowRunID               *uuid.UUID      `json:"flow_run_id"`
	TaskKey                 string          `json:"task_key"`
	StateID                 *uuid.UUID      `json:"state_id"`
	State                   *State          `json:"state"`
	TaskVersion             *string         `json:"task_version"`
	TaskInputs              json.RawMessage `json:"task_inputs"`
	EmpiricalPolicy         TaskRunPolicy   `json:"empirical_policy"`
	Tags                    []string        `json:"tags"`
	StartTime               *time.Time      `json:"start_time"`
	EndTime                 *time.Time      `json:"end_time"`
	TotalRunTime            float64         `json:"total_run_time"`
	EstimatedRunTime        float64         `json:"estimated_run_time"`
	EstimatedStartTimeDelta float64         `json:"estimated_start_time_delta"`
}

// Response is r as /task_runs/paginate gives it.
func (r TaskRun) Response() TaskRunResponse {
	return TaskRunResponse{ID: r.ID, Created: r.Created, Updated: r.Updated, Name: r.Name, FlowRunID: r.FlowRunID,
		TaskKey: r.TaskKey, StateID: r.StateID, State: r.State, TaskVersion: r.TaskVersion, TaskInputs: r.TaskInputs,
		EmpiricalPolicy: r.EmpiricalPolicy, Tags: r.Tags, StartTime: r.StartTime, EndTime: r.EndTime,
		TotalRunTime: r.TotalRunTime, EstimatedRunTime: r.EstimatedRunTime, EstimatedStartTimeDelta: r.EstimatedStartTimeDelta}
}

// RunHistoryQuery is the body of POST /flow_runs/history and
// /task_runs/history: the runs matching the filters whose expected start
// time falls in [history_start, history_end), by interval and state. The
// task-run route reads no pool or queue filter.
type RunHistoryQuery struct {
	HistoryStart           *time.Time        `json:"history_start"`
	HistoryEnd             *time.Time        `json:"history_end"`
	HistoryIntervalSeconds *float64          `json:"history_interval_seconds"`
	Flows                  *FlowFilter       `json:"flows"`
	FlowRuns               *FlowRunFilter    `json:"flow_runs"`
	TaskRuns               *TaskRunFilter    `json:"task_runs"`
	Deployments            *DeploymentFilter `json:"deployments"`
	WorkPools              *WorkPoolFilter   `json:"work_pools"`
	WorkQueues             *WorkQueueFilter  `json:"work_queues"`
}

// EmbeddedBody: every field is a Body parameter of its own in Prefect.
func (RunHistoryQuery) EmbeddedBody() {}

// HistoryInterval is one interval of a run history; an interval without runs
// has no states.
type HistoryInterval struct {
	IntervalStart time.Time      `json:"interval_start"`
	IntervalEnd   time.Time      `json:"interval_end"`
	States        []HistoryState `json:"states"`
}

// HistoryState counts an interval's runs in one state, with the sums of
// their estimated run time and lateness in seconds (positive parts only).
type HistoryState struct {
	StateType            StateType `json:"state_type"`
	StateName            string    `json:"state_name"`
	CountRuns            int       `json:"count_runs"`
	SumEstimatedRunTime  float64   `json:"sum_estimated_run_time"`
	SumEstimatedLateness float64   `json:"sum_estimated_lateness"`
}

// ObservedStateSort orders /observed-states.
type ObservedStateSort string

const (
	ObservedNameAsc      ObservedStateSort = "NAME_ASC"
	ObservedLastSeenDesc ObservedStateSort = "LAST_SEEN_DESC"
)

// ObservedStatesQuery is what GET /observed-states asks: pairs whose type or
// name starts with Prefix (any case; empty matches all), at most Limit.
type ObservedStatesQuery struct {
	Prefix string
	Sort   ObservedStateSort
	Limit  int
}

// ObservedState is a state type and exact name seen in retained run
// history, and the bounds of its transitions.
type ObservedState struct {
	StateType string    `json:"state_type"`
	StateName string    `json:"state_name"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}
