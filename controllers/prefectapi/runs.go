package prefectapi

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// State is a run's state as sent and answered.
type State struct {
	Type    string `json:"type"`
	Name    string `json:"name,omitempty"`
	Message string `json:"message,omitempty"`
}

// FlowRun is a flow run as the server answers it.
type FlowRun struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FlowID    string `json:"flow_id"`
	StateType string `json:"state_type"`
	State     *State `json:"state"`
}

// FlowRunCreate is what the operator sets of a new flow run.
type FlowRunCreate struct {
	FlowID string   `json:"flow_id"`
	Name   string   `json:"name,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	State  *State   `json:"state,omitempty"`
}

func flowRunPath(id string) string { return "/flow_runs/" + url.PathEscape(id) }

// CreateFlowRun creates a flow run.
func (c *Client) CreateFlowRun(ctx context.Context, r FlowRunCreate) (FlowRun, error) {
	var fr FlowRun
	return fr, c.do(ctx, http.MethodPost, "/flow_runs/", r, &fr)
}

// ReadFlowRun reads a flow run.
func (c *Client) ReadFlowRun(ctx context.Context, id string) (FlowRun, error) {
	var fr FlowRun
	return fr, c.do(ctx, http.MethodGet, flowRunPath(id), nil, &fr)
}

// DeleteFlowRun deletes a flow run; one already gone is fine.
func (c *Client) DeleteFlowRun(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodDelete, flowRunPath(id), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// OrchestrationResult is the server's answer to a proposed state: Status is
// ACCEPT when the state was written; REJECT, WAIT or ABORT say why not in
// Details.Reason.
type OrchestrationResult struct {
	Status  string `json:"status"`
	State   *State `json:"state"`
	Details struct {
		Reason string `json:"reason"`
	} `json:"details"`
}

// SetFlowRunState proposes a state through the orchestration rules, the one
// way a client changes a run's state.
func (c *Client) SetFlowRunState(ctx context.Context, id string, s State) (OrchestrationResult, error) {
	var res OrchestrationResult
	return res, c.do(ctx, http.MethodPost, flowRunPath(id)+"/set_state", map[string]any{"state": s}, &res)
}

// Log is one log line of a run.
type Log struct {
	Name      string    `json:"name"`
	Level     int       `json:"level"`
	Message   string    `json:"message"`
	Timestamp time.Time `json:"timestamp"`
	FlowRunID string    `json:"flow_run_id,omitempty"`
}

// CreateLogs writes log lines.
func (c *Client) CreateLogs(ctx context.Context, logs []Log) error {
	return c.do(ctx, http.MethodPost, "/logs/", logs, nil)
}

// Event is an event as a client emits it; Resource and each of Related
// carry "prefect.resource.id".
type Event struct {
	ID       string              `json:"id"`
	Occurred time.Time           `json:"occurred"`
	Event    string              `json:"event"`
	Resource map[string]string   `json:"resource"`
	Related  []map[string]string `json:"related,omitempty"`
	Payload  map[string]any      `json:"payload,omitempty"`
}

// EmitEvents sends events into the server's event pipeline.
func (c *Client) EmitEvents(ctx context.Context, events []Event) error {
	return c.do(ctx, http.MethodPost, "/events", events, nil)
}

// CountFlowRuns counts the flow runs of the flow of that name.
func (c *Client) CountFlowRuns(ctx context.Context, flowName string) (int, error) {
	var n int
	body := map[string]any{"flows": map[string]any{"name": map[string]any{"any_": []string{flowName}}}}
	return n, c.do(ctx, http.MethodPost, "/flow_runs/count", body, &n)
}
