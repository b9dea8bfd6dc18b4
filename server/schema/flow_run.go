package schema

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// FlowRunPolicy is a flow run's empirical_policy: retries and pause/resume
// bookkeeping.
type FlowRunPolicy struct {
	MaxRetries        int      `json:"max_retries"`
	RetryDelaySeconds float64  `json:"retry_delay_seconds"`
	Retries           *int     `json:"retries"`
	RetryDelay        *float64 `json:"retry_delay"`
	PauseKeys         []string `json:"pause_keys"`
	Resuming          bool     `json:"resuming"`
	RetryType         *string  `json:"retry_type"`
}

// IgnoresUnknownKeys: Prefect's FlowRunPolicy ignores keys it does not declare.
func (FlowRunPolicy) IgnoresUnknownKeys() {}

// Normalize fills the defaults Prefect applies, including the legacy
// max_retries fields standing in for retries.
func (p *FlowRunPolicy) Normalize() {
	if p.PauseKeys == nil {
		p.PauseKeys = []string{}
	}
	if p.Retries == nil && p.MaxRetries != 0 {
		r := p.MaxRetries
		p.Retries = &r
	}
	if p.RetryDelay == nil && p.RetryDelaySeconds != 0 {
		d := p.RetryDelaySeconds
		p.RetryDelay = &d
	}
}

// CreatedBy names who created a run (a deployment schedule, an automation).
type CreatedBy struct {
	ID           *uuid.UUID `json:"id"`
	Type         *string    `json:"type"`
	DisplayValue *string    `json:"display_value"`
}

// FlowRun is a flow run with its current state, as the API returns it.
type FlowRun struct {
	ID                       uuid.UUID       `json:"id"`
	Created                  time.Time       `json:"created"`
	Updated                  time.Time       `json:"updated"`
	Name                     string          `json:"name"`
	FlowID                   uuid.UUID       `json:"flow_id"`
	StateID                  *uuid.UUID      `json:"state_id"`
	DeploymentID             *uuid.UUID      `json:"deployment_id"`
	DeploymentVersion        *string         `json:"deployment_version"`
	WorkQueueID              *uuid.UUID      `json:"work_queue_id"`
	WorkQueueName            *string         `json:"work_queue_name"`
	FlowVersion              *string         `json:"flow_version"`
	Parameters               json.RawMessage `json:"parameters"`
	IdempotencyKey           *string         `json:"idempotency_key"`
	Context                  json.RawMessage `json:"context"`
	EmpiricalPolicy          FlowRunPolicy   `json:"empirical_policy"`
	Tags                     []string        `json:"tags"`
	Labels                   json.RawMessage `json:"labels"`
	ParentTaskRunID          *uuid.UUID      `json:"parent_task_run_id"`
	StateType                *StateType      `json:"state_type"`
	StateName                *string         `json:"state_name"`
	RunCount                 int             `json:"run_count"`
	ExpectedStartTime        *time.Time      `json:"expected_start_time"`
	NextScheduledStartTime   *time.Time      `json:"next_scheduled_start_time"`
	StartTime                *time.Time      `json:"start_time"`
	EndTime                  *time.Time      `json:"end_time"`
	TotalRunTime             float64         `json:"total_run_time"`
	EstimatedRunTime         float64         `json:"estimated_run_time"`
	EstimatedStartTimeDelta  float64         `json:"estimated_start_time_delta"`
	AutoScheduled            bool            `json:"auto_scheduled"`
	InfrastructureDocumentID *uuid.UUID      `json:"infrastructure_document_id"`
	InfrastructurePID        *string         `json:"infrastructure_pid"`
	CreatedBy                *CreatedBy      `json:"created_by"`
	WorkPoolID               *uuid.UUID      `json:"work_pool_id"`
	WorkPoolName             *string         `json:"work_pool_name"`
	State                    *State          `json:"state"`
	JobVariables             json.RawMessage `json:"job_variables"`
}

// FlowRunCreate is the body of POST /flow_runs/.
type FlowRunCreate struct {
	RunCreateFields
	FlowID       uuid.UUID  `json:"flow_id"`
	FlowVersion  *string    `json:"flow_version"`
	DeploymentID *uuid.UUID `json:"deployment_id"`
	WorkPoolName *string    `json:"work_pool_name"`
	CreatedBy    *CreatedBy `json:"created_by"`
}

// Validate checks the body and fills Prefect's defaults.
func (c *FlowRunCreate) Validate() error {
	if c.FlowID == uuid.Nil {
		return Invalid("flow_id", "Field required")
	}
	return c.validate()
}

// RunCreateFields are the fields a new flow run takes from the client, the
// same in POST /flow_runs/ and POST /deployments/{id}/create_flow_run.
type RunCreateFields struct {
	State                    *StateCreate    `json:"state"`
	Name                     *string         `json:"name"`
	Parameters               json.RawMessage `json:"parameters"`
	Context                  json.RawMessage `json:"context"`
	InfrastructureDocumentID *uuid.UUID      `json:"infrastructure_document_id"`
	EmpiricalPolicy          *FlowRunPolicy  `json:"empirical_policy"`
	Tags                     []string        `json:"tags"`
	IdempotencyKey           *string         `json:"idempotency_key"`
	Labels                   json.RawMessage `json:"labels"`
	ParentTaskRunID          *uuid.UUID      `json:"parent_task_run_id"`
	WorkQueueName            *string         `json:"work_queue_name"`
	JobVariables             json.RawMessage `json:"job_variables"`
}

// validate checks the shared fields and fills Prefect's defaults: empty
// objects and tags, the default policy, a generated name.
func (c *RunCreateFields) validate() error {
	if !IsJSONObject(c.Parameters) {
		return Invalid("parameters", "Input should be a valid dictionary")
	}
	if !IsJSONObject(c.JobVariables) {
		return Invalid("job_variables", "Input should be a valid dictionary")
	}
	if err := ValidateLabelsDepth("labels", c.Labels); err != nil {
		return err
	}
	if c.State != nil {
		if err := c.State.Validate(); err != nil {
			return err
		}
	}
	c.Parameters = objectOrEmpty(c.Parameters)
	c.Context = objectOrEmpty(c.Context)
	c.Labels = objectOrEmpty(c.Labels)
	c.JobVariables = objectOrEmpty(c.JobVariables)
	c.Tags = nonNilTags(c.Tags)
	if c.EmpiricalPolicy == nil {
		c.EmpiricalPolicy = &FlowRunPolicy{}
	}
	c.EmpiricalPolicy.Normalize()
	if c.Name == nil || *c.Name == "" {
		n := GenerateSlug()
		c.Name = &n
	}
	return nil
}

// FlowRunUpdate is the body of PATCH /flow_runs/{id}; nil fields are left alone.
type FlowRunUpdate struct {
	Name              *string         `json:"name"`
	FlowVersion       *string         `json:"flow_version"`
	Parameters        json.RawMessage `json:"parameters"`
	EmpiricalPolicy   *FlowRunPolicy  `json:"empirical_policy"`
	Tags              *[]string       `json:"tags"`
	InfrastructurePID *string         `json:"infrastructure_pid"`
	JobVariables      json.RawMessage `json:"job_variables"`
}
