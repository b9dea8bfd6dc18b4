package store

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// GraphSource is what a flow run's graph is drawn from, as stored: the run's
// own times, its task runs (each with the subflow run it stands for, if
// any) and its artifacts other than results, oldest first.
type GraphSource struct {
	Start, End *time.Time // the run's start time (else expected start) and end time
	Tasks      []GraphTask
	Artifacts  []GraphSourceArtifact
}

// GraphTask is a task run of the flow run.
type GraphTask struct {
	GraphRun
	Inputs  json.RawMessage // task_inputs
	Subflow *GraphRun       // the subflow run whose parent task run it is
}

// GraphRun is the part of a task or flow run a graph node shows.
type GraphRun struct {
	ID                        uuid.UUID
	Label                     string // a subflow's is "flow name / run name"
	StateType                 *schema.StateType
	Start, ExpectedStart, End *time.Time
}

// GraphSourceArtifact is an artifact with the task run it belongs to.
type GraphSourceArtifact struct {
	schema.GraphArtifact
	TaskRunID *uuid.UUID
}
