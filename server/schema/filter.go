package schema

import (
	"github.com/google/uuid"
)

// The filter bodies of the /…/filter and /…/count endpoints. Prefect defines
// one class per field; their keys overlap so much that a few shared shapes
// cover them all. Like Prefect's, every filter object rejects a key it does
// not declare (see UnknownKey); keys Prefect declares that this server does
// not apply are blank fields (`ignored:"key"`), accepted and left out of the
// query.

// Operator joins the criteria of one filter object: "and_" (the default) or "or_".
type Operator string

// IDFilter matches a UUID column.
type IDFilter struct {
	_      Operator    `ignored:"operator"`
	Any    []uuid.UUID `json:"any_"`
	NotAny []uuid.UUID `json:"not_any_"`
	IsNull *bool       `json:"is_null_"`
}

// TextFilter matches a text column.
type TextFilter struct {
	_          Operator `ignored:"operator"`
	Any        []string `json:"any_"`
	NotAny     []string `json:"not_any_"`
	Like       *string  `json:"like_"`
	StartsWith []string `json:"startswith_"`
	IsNull     *bool    `json:"is_null_"`
}

// TimeFilter matches a timestamp column.
type TimeFilter struct {
	Before *DateTime `json:"before_"`
	After  *DateTime `json:"after_"`
	IsNull *bool     `json:"is_null_"`
}

// TagsFilter matches a JSON list of tags.
type TagsFilter struct {
	_      Operator `ignored:"operator"`
	All    []string `json:"all_"`
	Any    []string `json:"any_"`
	IsNull *bool    `json:"is_null_"`
}

// StateTypeFilter matches the state type column.
type StateTypeFilter struct {
	Any    []StateType `json:"any_"`
	NotAny []StateType `json:"not_any_"`
}

// StateFilter matches a run's current state.
type StateFilter struct {
	Operator Operator         `json:"operator"`
	Type     *StateTypeFilter `json:"type"`
	Name     *TextFilter      `json:"name"`
}

// ExistsFilter matches whether related rows exist.
type ExistsFilter struct {
	Exists *bool `json:"exists_"`
}

// IntFilter matches an integer column.
type IntFilter struct {
	GE *int `json:"ge_"`
	LE *int `json:"le_"`
}

// FlowFilter selects flows.
type FlowFilter struct {
	Operator Operator    `json:"operator"`
	ID       *IDFilter   `json:"id"`
	Name     *TextFilter `json:"name"`
	Tags     *TagsFilter `json:"tags"`
	_        *struct {
		_ Operator `ignored:"operator"`
		_ *bool    `ignored:"is_null_"`
	} `ignored:"deployment"`
}

// FlowRunFilter selects flow runs.
type FlowRunFilter struct {
	Operator               Operator     `json:"operator"`
	ID                     *IDFilter    `json:"id"`
	Name                   *TextFilter  `json:"name"`
	Tags                   *TagsFilter  `json:"tags"`
	DeploymentID           *IDFilter    `json:"deployment_id"`
	WorkQueueName          *TextFilter  `json:"work_queue_name"`
	State                  *StateFilter `json:"state"`
	FlowVersion            *TextFilter  `json:"flow_version"`
	StartTime              *TimeFilter  `json:"start_time"`
	EndTime                *TimeFilter  `json:"end_time"`
	ExpectedStartTime      *TimeFilter  `json:"expected_start_time"`
	NextScheduledStartTime *TimeFilter  `json:"next_scheduled_start_time"`
	ParentFlowRunID        *IDFilter    `json:"parent_flow_run_id"`
	ParentTaskRunID        *IDFilter    `json:"parent_task_run_id"`
	IdempotencyKey         *TextFilter  `json:"idempotency_key"`
	_                      *struct {
		_ Operator `ignored:"operator"`
		_ []string `ignored:"id_"`
		_ []string `ignored:"type_"`
		_ *bool    `ignored:"is_null_"`
	} `ignored:"created_by"`
}

// TaskRunFilter selects task runs.
type TaskRunFilter struct {
	Operator          Operator      `json:"operator"`
	ID                *IDFilter     `json:"id"`
	Name              *TextFilter   `json:"name"`
	Tags              *TagsFilter   `json:"tags"`
	State             *StateFilter  `json:"state"`
	StartTime         *TimeFilter   `json:"start_time"`
	ExpectedStartTime *TimeFilter   `json:"expected_start_time"`
	SubflowRuns       *ExistsFilter `json:"subflow_runs"`
	FlowRunID         *IDFilter     `json:"flow_run_id"`
	_                 *TimeFilter   `ignored:"end_time"`
}

// LogFilter selects logs.
type LogFilter struct {
	_ Operator `ignored:"operator"`
	_ *struct {
		_ string `ignored:"query"`
	} `ignored:"text"`
	Level     *IntFilter  `json:"level"`
	Timestamp *TimeFilter `json:"timestamp"`
	FlowRunID *IDFilter   `json:"flow_run_id"`
	TaskRunID *IDFilter   `json:"task_run_id"`
}

// ArtifactFilter selects artifacts.
type ArtifactFilter struct {
	Operator  Operator     `json:"operator"`
	ID        *IDFilter    `json:"id"`
	Key       *ArtifactKey `json:"key"`
	FlowRunID *IDFilter    `json:"flow_run_id"`
	TaskRunID *IDFilter    `json:"task_run_id"`
	Type      *TextFilter  `json:"type"`
	// LatestID selects collections by their latest artifact (the latest routes only).
	LatestID *IDFilter `json:"latest_id"`
}

// ArtifactKey matches artifact keys; exists_ selects keyed or unkeyed ones.
type ArtifactKey struct {
	TextFilter
	Exists *bool `json:"exists_"`
}

// Page is the pagination part of every filter body.
type Page struct {
	Limit  *int `json:"limit"`
	Offset int  `json:"offset"`
}

// EmbeddedBody: limit and offset are Body(...) parameters of their own in
// Prefect, so every body with a page (Query, LogQuery, ...) is embedded.
func (Page) EmbeddedBody() {}

// Query is the body of the flow, flow-run and task-run filter and count
// endpoints: filters on each related object, a sort and a page. Runs are
// selected by their own filter joined with the filters on their flow, flow
// run and task runs.
type Query struct {
	Flows    *FlowFilter    `json:"flows"`
	FlowRuns *FlowRunFilter `json:"flow_runs"`
	TaskRuns *TaskRunFilter `json:"task_runs"`
	// Deployments, WorkPools and WorkPoolQueues select flow runs by their
	// deployment and by the pool and queue they run in.
	Deployments    *DeploymentFilter `json:"deployments"`
	WorkPools      *WorkPoolFilter   `json:"work_pools"`
	WorkPoolQueues *WorkQueueFilter  `json:"work_pool_queues"`
	Sort           string            `json:"sort"`
	// PageNumber is the page of /paginate, from 1.
	PageNumber *int `json:"page"`
	Page
}

// LogQuery is the body of POST /logs/filter.
type LogQuery struct {
	Logs *LogFilter `json:"logs"`
	Sort string     `json:"sort"`
	Page
}

// ArtifactQuery is the body of POST /artifacts/filter.
type ArtifactQuery struct {
	_         *FlowFilter       `ignored:"flows"`
	_         *DeploymentFilter `ignored:"deployments"`
	Artifacts *ArtifactFilter   `json:"artifacts"`
	FlowRuns  *FlowRunFilter    `json:"flow_runs"`
	TaskRuns  *TaskRunFilter    `json:"task_runs"`
	Sort      string            `json:"sort"`
	Page
}
