package prefectapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// ConcurrencyOptions are a deployment's concurrency options.
type ConcurrencyOptions struct {
	CollisionStrategy string `json:"collision_strategy"`
}

// Deployment is a deployment as the server answers it.
type Deployment struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	FlowID                 string          `json:"flow_id"`
	Description            *string         `json:"description"`
	Version                *string         `json:"version"`
	Entrypoint             *string         `json:"entrypoint"`
	Paused                 bool            `json:"paused"`
	Parameters             json.RawMessage `json:"parameters"`
	ParameterOpenAPISchema json.RawMessage `json:"parameter_openapi_schema"`
	EnforceParameterSchema bool            `json:"enforce_parameter_schema"`
	JobVariables           json.RawMessage `json:"job_variables"`
	PullSteps              json.RawMessage `json:"pull_steps"`
	Tags                   []string        `json:"tags"`
	WorkPoolName           *string         `json:"work_pool_name"`
	WorkQueueName          *string         `json:"work_queue_name"`
	ConcurrencyLimit       *int32          `json:"concurrency_limit"`
	GlobalConcurrencyLimit *struct {
		Limit int32 `json:"limit"`
	} `json:"global_concurrency_limit"`
	ConcurrencyOptions *ConcurrencyOptions  `json:"concurrency_options"`
	Schedules          []DeploymentSchedule `json:"schedules"`
	// Status is READY (a worker or runner polled it lately) or NOT_READY.
	Status string `json:"status"`
}

// Limit is the deployment's concurrency limit. Prefect answers it in
// global_concurrency_limit (concurrency_limit is always null there); this
// server answers both.
func (d Deployment) Limit() *int32 {
	if d.ConcurrencyLimit != nil {
		return d.ConcurrencyLimit
	}
	if d.GlobalConcurrencyLimit != nil {
		return &d.GlobalConcurrencyLimit.Limit
	}
	return nil
}

// DeploymentWrite is what the operator sets of a deployment: the body of
// a PATCH, and with FlowID and Name that of the POST that creates it.
// Every field is sent, so one the spec leaves unset is cleared.
type DeploymentWrite struct {
	FlowID                 string              `json:"flow_id,omitempty"`
	Name                   string              `json:"name,omitempty"`
	Description            *string             `json:"description"`
	Version                *string             `json:"version"`
	Entrypoint             *string             `json:"entrypoint"`
	Paused                 bool                `json:"paused"`
	Parameters             json.RawMessage     `json:"parameters"`
	ParameterOpenAPISchema json.RawMessage     `json:"parameter_openapi_schema"`
	EnforceParameterSchema bool                `json:"enforce_parameter_schema"`
	JobVariables           json.RawMessage     `json:"job_variables"`
	PullSteps              json.RawMessage     `json:"pull_steps"`
	Tags                   []string            `json:"tags"`
	WorkPoolName           *string             `json:"work_pool_name"`
	WorkQueueName          *string             `json:"work_queue_name"`
	ConcurrencyLimit       *int32              `json:"concurrency_limit"`
	ConcurrencyOptions     *ConcurrencyOptions `json:"concurrency_options"`
}

// Schedule is one of Prefect's three schedule shapes: cron (with day_or),
// interval (seconds, with anchor_date) or rrule; each with a time zone.
type Schedule struct {
	Cron       string     `json:"cron,omitempty"`
	DayOr      *bool      `json:"day_or,omitempty"`
	Interval   *float64   `json:"interval,omitempty"`
	AnchorDate *time.Time `json:"anchor_date,omitempty"`
	RRule      string     `json:"rrule,omitempty"`
	Timezone   *string    `json:"timezone,omitempty"`
}

// DeploymentSchedule is a deployment's schedule as the server answers it.
type DeploymentSchedule struct {
	ID               string          `json:"id"`
	Schedule         Schedule        `json:"schedule"`
	Active           bool            `json:"active"`
	MaxScheduledRuns *int32          `json:"max_scheduled_runs"`
	Parameters       json.RawMessage `json:"parameters"`
	Slug             *string         `json:"slug"`
}

// ScheduleWrite is what the operator sets of a schedule. A nil
// max_scheduled_runs is not sent: Prefect's PATCH cannot clear it.
type ScheduleWrite struct {
	Schedule         Schedule        `json:"schedule"`
	Active           bool            `json:"active"`
	MaxScheduledRuns *int32          `json:"max_scheduled_runs,omitempty"`
	Parameters       json.RawMessage `json:"parameters"`
	Slug             string          `json:"slug"`
}

func deploymentPath(id string) string { return "/deployments/" + url.PathEscape(id) }

// ReadDeploymentByName reads a deployment by its flow's name and its own.
func (c *Client) ReadDeploymentByName(ctx context.Context, flow, name string) (Deployment, error) {
	var d Deployment
	return d, c.do(ctx, http.MethodGet, "/deployments/name/"+url.PathEscape(flow)+"/"+url.PathEscape(name), nil, &d)
}

// CreateDeployment creates a deployment. POST /deployments/ is an upsert
// by flow and name that replaces the schedules and deletes the runs they
// scheduled, so it is only for a deployment the server does not have; an
// existing one is changed with UpdateDeployment and the schedule routes.
func (c *Client) CreateDeployment(ctx context.Context, w DeploymentWrite) (Deployment, error) {
	var d Deployment
	return d, c.do(ctx, http.MethodPost, "/deployments/", w, &d)
}

// UpdateDeployment changes a deployment's fields, leaving its schedules
// (the server deletes the runs they scheduled still to come, which the
// scheduler makes again).
func (c *Client) UpdateDeployment(ctx context.Context, id string, w DeploymentWrite) error {
	w.FlowID, w.Name = "", ""
	return c.do(ctx, http.MethodPatch, deploymentPath(id), w, nil)
}

// DeleteDeployment deletes a deployment and its scheduled runs; one
// already gone is fine.
func (c *Client) DeleteDeployment(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodDelete, deploymentPath(id), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// CreateSchedules adds schedules to a deployment.
func (c *Client) CreateSchedules(ctx context.Context, deployment string, ws []ScheduleWrite) error {
	return c.do(ctx, http.MethodPost, deploymentPath(deployment)+"/schedules", ws, nil)
}

// UpdateSchedule changes one schedule in place (its id, and the runs of
// the others, are kept).
func (c *Client) UpdateSchedule(ctx context.Context, deployment, schedule string, w ScheduleWrite) error {
	return c.do(ctx, http.MethodPatch, deploymentPath(deployment)+"/schedules/"+url.PathEscape(schedule), w, nil)
}

// DeleteSchedule deletes one schedule and its runs still to come.
func (c *Client) DeleteSchedule(ctx context.Context, deployment, schedule string) error {
	err := c.do(ctx, http.MethodDelete, deploymentPath(deployment)+"/schedules/"+url.PathEscape(schedule), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}
