package schema

import (
	"strconv"

	"github.com/google/uuid"
)

// BulkLimit is Prefect's cap on the objects one bulk request touches, and
// its default.
const BulkLimit = 50

// BulkQuery is the body of the bulk routes: the filter of the objects to
// act on (one of them, by route), at most Limit of them, and for
// /flow_runs/bulk_set_state the state to propose.
type BulkQuery struct {
	Flows       *FlowFilter       `json:"flows"`
	FlowRuns    *FlowRunFilter    `json:"flow_runs"`
	Deployments *DeploymentFilter `json:"deployments"`
	Limit       *int              `json:"limit"`
}

// EmbeddedBody: each field is a Body parameter of its own in Prefect.
func (BulkQuery) EmbeddedBody() {}

// Validate bounds the limit to [1, BulkLimit], defaulting to BulkLimit.
func (q *BulkQuery) Validate() error {
	if q.Limit == nil {
		n := BulkLimit
		q.Limit = &n
	}
	switch {
	case *q.Limit < 1:
		return Invalid("limit", "Input should be greater than or equal to 1")
	case *q.Limit > BulkLimit:
		return Invalid("limit", "Input should be less than or equal to "+strconv.Itoa(BulkLimit))
	}
	return nil
}

// BulkSetStateQuery is the body of POST /flow_runs/bulk_set_state.
type BulkSetStateQuery struct {
	BulkQuery
	State *StateCreate `json:"state"`
	Force bool         `json:"force"`
}

// Validate requires a valid state and bounds the limit.
func (q *BulkSetStateQuery) Validate() error {
	if q.State == nil {
		return Invalid("state", "Field required")
	}
	if err := q.State.Validate(); err != nil {
		return err
	}
	return q.BulkQuery.Validate()
}

// BulkDeleted is the answer of the bulk deletes: what was deleted.
type BulkDeleted struct {
	Deleted []uuid.UUID `json:"deleted"`
}

// BulkStateResult is one run's verdict in a bulk state change.
type BulkStateResult struct {
	FlowRunID uuid.UUID `json:"flow_run_id"`
	OrchestrationResult
}

// BulkSetStateResults is the answer of /flow_runs/bulk_set_state.
type BulkSetStateResults struct {
	Results []BulkStateResult `json:"results"`
}
