package schema

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Graph is a flow run's graph as the UI's run view draws it
// (GET /flow_runs/{id}/graph-v2): its task runs and the subflow runs they
// stand for, their data dependencies, artifacts and the run's states.
type Graph struct {
	StartTime   *time.Time      `json:"start_time"`
	EndTime     *time.Time      `json:"end_time"`
	RootNodeIDs []uuid.UUID     `json:"root_node_ids"`
	Nodes       []GraphNodePair `json:"nodes"`
	Artifacts   []GraphArtifact `json:"artifacts"`
	States      []GraphState    `json:"states"`
}

// GraphNodePair is a node keyed by its id: Prefect sends the nodes as
// [id, node] pairs.
type GraphNodePair struct {
	ID   uuid.UUID
	Node GraphNode
}

func (p GraphNodePair) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]any{p.ID, p.Node})
}

// GraphNode is a task run ("task-run") or the subflow run a task run stands
// for ("flow-run").
type GraphNode struct {
	Kind          string          `json:"kind"`
	ID            uuid.UUID       `json:"id"`
	Label         string          `json:"label"`
	StateType     StateType       `json:"state_type"`
	StartTime     time.Time       `json:"start_time"`
	EndTime       *time.Time      `json:"end_time"`
	Parents       []GraphEdge     `json:"parents"`
	Children      []GraphEdge     `json:"children"`
	Encapsulating []GraphEdge     `json:"encapsulating"`
	Artifacts     []GraphArtifact `json:"artifacts"`
}

// GraphEdge points at another node.
type GraphEdge struct {
	ID uuid.UUID `json:"id"`
}

// GraphArtifact is an artifact on the graph; only progress artifacts carry
// their data.
type GraphArtifact struct {
	ID       uuid.UUID       `json:"id"`
	Created  time.Time       `json:"created"`
	Key      *string         `json:"key"`
	Type     *string         `json:"type"`
	IsLatest bool            `json:"is_latest"`
	Data     json.RawMessage `json:"data"`
}

// GraphState is one of the flow run's states.
type GraphState struct {
	ID        uuid.UUID `json:"id"`
	Timestamp time.Time `json:"timestamp"`
	Type      StateType `json:"type"`
	Name      string    `json:"name"`
}

// DependencyResult is a task run in the older graph of a flow run
// (GET /flow_runs/{id}/graph): its inputs, once each, and its times.
type DependencyResult struct {
	ID                   uuid.UUID         `json:"id"`
	Name                 string            `json:"name"`
	UpstreamDependencies []json.RawMessage `json:"upstream_dependencies"`
	State                *State            `json:"state"`
	ExpectedStartTime    *time.Time        `json:"expected_start_time"`
	StartTime            *time.Time        `json:"start_time"`
	EndTime              *time.Time        `json:"end_time"`
	TotalRunTime         float64           `json:"total_run_time"`
	EstimatedRunTime     float64           `json:"estimated_run_time"`
	UntrackableResult    bool              `json:"untrackable_result"`
}
