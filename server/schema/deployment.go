package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Deployment statuses.
const (
	DeploymentReady    = "READY"
	DeploymentNotReady = "NOT_READY"
)

// Concurrency collision strategies of a deployment's concurrency_options.
const (
	CollisionEnqueue   = "ENQUEUE"
	CollisionCancelNew = "CANCEL_NEW"
)

// DeploymentSchedule is one schedule of a deployment.
type DeploymentSchedule struct {
	ID               uuid.UUID       `json:"id"`
	Created          time.Time       `json:"created"`
	Updated          time.Time       `json:"updated"`
	DeploymentID     *uuid.UUID      `json:"deployment_id"`
	Schedule         Schedule        `json:"schedule"`
	Active           bool            `json:"active"`
	MaxScheduledRuns *int            `json:"max_scheduled_runs"`
	Parameters       json.RawMessage `json:"parameters"`
	Slug             *string         `json:"slug"`
}

// DeploymentScheduleCreate is one schedule of a deployment as clients send it.
type DeploymentScheduleCreate struct {
	Active           *bool           `json:"active"`
	Schedule         Schedule        `json:"schedule"`
	MaxScheduledRuns *int            `json:"max_scheduled_runs"`
	Parameters       json.RawMessage `json:"parameters"`
	Slug             *string         `json:"slug"`
	// Replaces names the slug of an existing schedule this one renames
	// (a deploy-time directive, never stored).
	Replaces *string `json:"replaces"`
}

// Normalize checks the schedule at loc and fills defaults.
func (c *DeploymentScheduleCreate) Normalize(loc string, now time.Time) error {
	if err := c.Schedule.Normalize(loc+".schedule", now); err != nil {
		return err
	}
	if c.Active == nil {
		t := true
		c.Active = &t
	}
	if c.MaxScheduledRuns != nil && *c.MaxScheduledRuns < 1 {
		return Invalid(loc+".max_scheduled_runs", "Input should be greater than 0")
	}
	if !IsJSONObject(c.Parameters) {
		return Invalid(loc+".parameters", "Input should be a valid dictionary")
	}
	c.Parameters = objectOrEmpty(c.Parameters)
	return nil
}

// DeploymentScheduleUpdate is the body of PATCH
// /deployments/{id}/schedules/{schedule_id}, and one schedule of a
// deployment PATCH; absent fields are left alone.
type DeploymentScheduleUpdate struct {
	Active           *bool           `json:"active"`
	Schedule         *Schedule       `json:"schedule"`
	MaxScheduledRuns *int            `json:"max_scheduled_runs"`
	Parameters       json.RawMessage `json:"parameters"`
	Slug             *string         `json:"slug"`
	Replaces         *string         `json:"replaces"`
}

// Normalize checks the update at loc.
func (u *DeploymentScheduleUpdate) Normalize(loc string, now time.Time) error {
	if u.Schedule != nil && !u.Schedule.present() {
		u.Schedule = nil
	}
	if u.Schedule != nil {
		if err := u.Schedule.Normalize(loc+".schedule", now); err != nil {
			return err
		}
	}
	if u.MaxScheduledRuns != nil && *u.MaxScheduledRuns < 1 {
		return Invalid(loc+".max_scheduled_runs", "Input should be greater than 0")
	}
	if !IsJSONObject(u.Parameters) {
		return Invalid(loc+".parameters", "Input should be a valid dictionary")
	}
	if string(u.Parameters) == "null" {
		u.Parameters = nil
	}
	return nil
}

// Validate checks the body of the schedule PATCH route.
func (u *DeploymentScheduleUpdate) Validate() error { return u.Normalize("", time.Now()) }

// ScheduleCreates is the body of POST /deployments/{id}/schedules.
type ScheduleCreates []DeploymentScheduleCreate

// Validate checks every schedule.
func (s *ScheduleCreates) Validate() error {
	if *s == nil {
		return Invalid("", "Field required")
	}
	now := time.Now()
	for i := range *s {
		if err := (*s)[i].Normalize(strconv.Itoa(i), now); err != nil {
			return err
		}
	}
	return nil
}

// ConcurrencyOptions say what happens to a run of a deployment at its
// concurrency limit.
type ConcurrencyOptions struct {
	CollisionStrategy  string `json:"collision_strategy"`
	GracePeriodSeconds *int   `json:"grace_period_seconds"`
}

// IgnoresUnknownKeys: Prefect's ConcurrencyOptions ignores keys it does not declare.
func (ConcurrencyOptions) IgnoresUnknownKeys() {}

func (o *ConcurrencyOptions) validate(loc string) error {
	switch o.CollisionStrategy {
	case CollisionEnqueue, CollisionCancelNew:
	case "":
		return Invalid(loc+".collision_strategy", "Field required")
	default:
		return Invalid(loc+".collision_strategy", "Input should be 'ENQUEUE' or 'CANCEL_NEW'")
	}
	if g := o.GracePeriodSeconds; g != nil && (*g < 60 || *g > 86400) {
		if *g < 60 {
			return Invalid(loc+".grace_period_seconds", "Input should be greater than or equal to 60")
		}
		return Invalid(loc+".grace_period_seconds", "Input should be less than or equal to 86400")
	}
	return nil
}

// Deployment is a deployment as the API returns it.
type Deployment struct {
	ID          uuid.UUID            `json:"id"`
	Created     time.Time            `json:"created"`
	Updated     time.Time            `json:"updated"`
	Name        string               `json:"name"`
	Version     *string              `json:"version"`
	VersionInfo json.RawMessage      `json:"version_info"`
	Description *string              `json:"description"`
	FlowID      uuid.UUID            `json:"flow_id"`
	Paused      bool                 `json:"paused"`
	Schedules   []DeploymentSchedule `json:"schedules"`
	// ConcurrencyLimit is the limit as set through the API (Prefect answers
	// null here and the limit object in global_concurrency_limit).
	ConcurrencyLimit         *int                `json:"concurrency_limit"`
	GlobalConcurrencyLimit   json.RawMessage     `json:"global_concurrency_limit"`
	ConcurrencyOptions       *ConcurrencyOptions `json:"concurrency_options"`
	JobVariables             json.RawMessage     `json:"job_variables"`
	Parameters               json.RawMessage     `json:"parameters"`
	Tags                     []string            `json:"tags"`
	Labels                   json.RawMessage     `json:"labels"`
	WorkQueueName            *string             `json:"work_queue_name"`
	WorkQueueID              *uuid.UUID          `json:"work_queue_id"`
	LastPolled               *time.Time          `json:"last_polled"`
	ParameterOpenAPISchema   json.RawMessage     `json:"parameter_openapi_schema"`
	Path                     *string             `json:"path"`
	PullSteps                json.RawMessage     `json:"pull_steps"`
	Entrypoint               *string             `json:"entrypoint"`
	StorageDocumentID        *uuid.UUID          `json:"storage_document_id"`
	InfrastructureDocumentID *uuid.UUID          `json:"infrastructure_document_id"`
	CreatedBy                *CreatedBy          `json:"created_by"`
	UpdatedBy                *CreatedBy          `json:"updated_by"`
	WorkPoolName             *string             `json:"work_pool_name"`
	Status                   string              `json:"status"`
	EnforceParameterSchema   bool                `json:"enforce_parameter_schema"`

	// WorkPoolID is the pool of the deployment's queue (not on the wire).
	WorkPoolID *uuid.UUID `json:"-"`
	// ConcurrencyLimitID names the global limit enforcing ConcurrencyLimit.
	ConcurrencyLimitID *uuid.UUID `json:"-"`
}

// fieldSet records which keys a body carried, for upserts and PATCHes that
// change only what was sent (Prefect's exclude_unset).
type fieldSet map[string]bool

func readFieldSet(b []byte) fieldSet {
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(b, &keys)
	set := make(fieldSet, len(keys))
	for k := range keys {
		set[k] = true
	}
	return set
}

// DeploymentCreate is the body of POST /deployments/ (an upsert by flow and
// name): on an update only the fields sent change.
type DeploymentCreate struct {
	Name                     string                     `json:"name"`
	FlowID                   uuid.UUID                  `json:"flow_id"`
	Paused                   bool                       `json:"paused"`
	Schedules                []DeploymentScheduleCreate `json:"schedules"`
	ConcurrencyLimit         *int                       `json:"concurrency_limit"`
	ConcurrencyOptions       *ConcurrencyOptions        `json:"concurrency_options"`
	GlobalConcurrencyLimitID *uuid.UUID                 `json:"global_concurrency_limit_id"`
	EnforceParameterSchema   bool                       `json:"enforce_parameter_schema"`
	ParameterOpenAPISchema   json.RawMessage            `json:"parameter_openapi_schema"`
	Parameters               json.RawMessage            `json:"parameters"`
	Tags                     []string                   `json:"tags"`
	Labels                   json.RawMessage            `json:"labels"`
	PullSteps                json.RawMessage            `json:"pull_steps"`
	WorkQueueName            *string                    `json:"work_queue_name"`
	WorkPoolName             *string                    `json:"work_pool_name"`
	StorageDocumentID        *uuid.UUID                 `json:"storage_document_id"`
	InfrastructureDocumentID *uuid.UUID                 `json:"infrastructure_document_id"`
	Description              *string                    `json:"description"`
	Path                     *string                    `json:"path"`
	Version                  *string                    `json:"version"`
	VersionInfo              json.RawMessage            `json:"version_info"`
	Entrypoint               *string                    `json:"entrypoint"`
	JobVariables             json.RawMessage            `json:"job_variables"`

	// CreatedBy is set by the server from the request.
	CreatedBy *CreatedBy `json:"-"`
	set       fieldSet
}

// KeysOf: the body's keys are its fields (UnmarshalJSON only records them).
func (DeploymentCreate) KeysOf() reflect.Type {
	type plain DeploymentCreate
	return reflect.TypeFor[plain]()
}

// UnmarshalJSON decodes the body and remembers which keys it had.
func (d *DeploymentCreate) UnmarshalJSON(b []byte) error {
	type plain DeploymentCreate
	p := plain{EnforceParameterSchema: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*d = DeploymentCreate(p)
	d.set = readFieldSet(b)
	return nil
}

// Has reports whether the body set the field with this JSON key. A value
// built in Go (not decoded) has every field set.
func (d *DeploymentCreate) Has(key string) bool { return d.set == nil || d.set[key] }

// Set marks fields as sent, for values the server fills in.
func (d *DeploymentCreate) Set(keys ...string) {
	if d.set == nil {
		return // built in Go: every field counts as set
	}
	for _, k := range keys {
		d.set[k] = true
	}
}

// Validate checks the body and fills Prefect's defaults.
func (d *DeploymentCreate) Validate() error {
	if d.set == nil {
		d.set = fieldSet{}
		for _, k := range deploymentCreateKeys {
			d.set[k] = true
		}
	}
	if !d.set["name"] {
		return Invalid("name", "Field required")
	}
	if err := validateNamePatternEmptyOK("name", d.Name); err != nil {
		return err
	}
	if d.FlowID == uuid.Nil {
		return Invalid("flow_id", "Field required")
	}
	if d.ConcurrencyLimit != nil && *d.ConcurrencyLimit < 1 {
		return Invalid("concurrency_limit", "Input should be greater than 0")
	}
	if d.ConcurrencyLimit != nil && d.GlobalConcurrencyLimitID != nil {
		return Invalid("", "Value error, A deployment cannot have both a concurrency limit and a global concurrency limit.")
	}
	if d.ConcurrencyOptions != nil {
		if err := d.ConcurrencyOptions.validate("concurrency_options"); err != nil {
			return err
		}
	}
	if !IsJSONObject(d.Parameters) {
		return Invalid("parameters", "Input should be a valid dictionary")
	}
	if !IsJSONObject(d.JobVariables) {
		return Invalid("job_variables", "Input should be a valid dictionary")
	}
	if !IsJSONObject(d.ParameterOpenAPISchema) {
		return Invalid("parameter_openapi_schema", "Input should be a valid dictionary")
	}
	if !isListOrNull(d.PullSteps) {
		return Invalid("pull_steps", "Input should be a valid list")
	}
	if !isObjectOrNull(d.VersionInfo) {
		return Invalid("version_info", "Input should be a valid dictionary")
	}
	d.Parameters = objectOrEmpty(d.Parameters)
	d.JobVariables = objectOrEmpty(d.JobVariables)
	d.Labels = objectOrEmpty(d.Labels)
	d.Tags = nonNilTags(d.Tags)
	if len(d.ParameterOpenAPISchema) == 0 || !d.set["parameter_openapi_schema"] {
		d.ParameterOpenAPISchema = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	if string(d.PullSteps) == "null" {
		d.PullSteps = nil
	}
	if string(d.VersionInfo) == "null" {
		d.VersionInfo = nil
	}
	now := time.Now()
	for i := range d.Schedules {
		if err := d.Schedules[i].Normalize("schedules."+strconv.Itoa(i), now); err != nil {
			return err
		}
	}
	if d.set["enforce_parameter_schema"] && d.EnforceParameterSchema {
		if err := ValidateParameters(d.Parameters, d.ParameterOpenAPISchema, true, false); err != nil {
			return Invalid("", "Value error, "+err.Error())
		}
	}
	return nil
}

var deploymentCreateKeys = []string{"name", "flow_id", "paused", "schedules", "concurrency_limit", "concurrency_options",
	"global_concurrency_limit_id", "enforce_parameter_schema", "parameter_openapi_schema", "parameters", "tags",
	"labels", "pull_steps", "work_queue_name", "work_pool_name", "storage_document_id", "infrastructure_document_id",
	"description", "path", "version", "version_info", "entrypoint", "job_variables"}

// DeploymentUpdate is the body of PATCH /deployments/{id}: only the fields
// sent change. schedules, when sent, replace the deployment's schedules (or,
// when every schedule has a slug, update them by slug).
type DeploymentUpdate struct {
	Version                  *string                    `json:"version"`
	VersionInfo              json.RawMessage            `json:"version_info"`
	Description              *string                    `json:"description"`
	Paused                   bool                       `json:"paused"`
	Schedules                []DeploymentScheduleUpdate `json:"schedules"`
	ConcurrencyLimit         *int                       `json:"concurrency_limit"`
	ConcurrencyOptions       *ConcurrencyOptions        `json:"concurrency_options"`
	GlobalConcurrencyLimitID *uuid.UUID                 `json:"global_concurrency_limit_id"`
	Parameters               json.RawMessage            `json:"parameters"`
	ParameterOpenAPISchema   json.RawMessage            `json:"parameter_openapi_schema"`
	Tags                     []string                   `json:"tags"`
	WorkQueueName            *string                    `json:"work_queue_name"`
	WorkPoolName             *string                    `json:"work_pool_name"`
	Path                     *string                    `json:"path"`
	JobVariables             json.RawMessage            `json:"job_variables"`
	PullSteps                json.RawMessage            `json:"pull_steps"`
	Entrypoint               *string                    `json:"entrypoint"`
	StorageDocumentID        *uuid.UUID                 `json:"storage_document_id"`
	InfrastructureDocumentID *uuid.UUID                 `json:"infrastructure_document_id"`
	EnforceParameterSchema   *bool                      `json:"enforce_parameter_schema"`
	Labels                   json.RawMessage            `json:"labels"`

	set fieldSet
}

// KeysOf: the body's keys are its fields (UnmarshalJSON only records them).
func (DeploymentUpdate) KeysOf() reflect.Type {
	type plain DeploymentUpdate
	return reflect.TypeFor[plain]()
}

// UnmarshalJSON decodes the body and remembers which keys it had.
func (u *DeploymentUpdate) UnmarshalJSON(b []byte) error {
	type plain DeploymentUpdate
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*u = DeploymentUpdate(p)
	u.set = readFieldSet(b)
	return nil
}

// Has reports whether the body set the field with this JSON key.
func (u *DeploymentUpdate) Has(key string) bool { return u.set[key] }

// Set marks a field as sent, for updates built in Go.
func (u *DeploymentUpdate) Set(keys ...string) {
	if u.set == nil {
		u.set = fieldSet{}
	}
	for _, k := range keys {
		u.set[k] = true
	}
}

// Validate checks the body.
func (u *DeploymentUpdate) Validate() error {
	if u.set == nil {
		u.set = fieldSet{}
	}
	if u.ConcurrencyLimit != nil && *u.ConcurrencyLimit < 1 {
		return Invalid("concurrency_limit", "Input should be greater than 0")
	}
	if u.ConcurrencyLimit != nil && u.GlobalConcurrencyLimitID != nil {
		return Invalid("", "Value error, A deployment cannot have both a concurrency limit and a global concurrency limit.")
	}
	if u.ConcurrencyOptions != nil {
		if err := u.ConcurrencyOptions.validate("concurrency_options"); err != nil {
			return err
		}
	}
	for key, raw := range map[string]json.RawMessage{"parameters": u.Parameters, "job_variables": u.JobVariables,
		"parameter_openapi_schema": u.ParameterOpenAPISchema, "labels": u.Labels, "version_info": u.VersionInfo} {
		if !IsJSONObject(raw) {
			return Invalid(key, "Input should be a valid dictionary")
		}
	}
	if !isListOrNull(u.PullSteps) {
		return Invalid("pull_steps", "Input should be a valid list")
	}
	if u.Has("tags") {
		u.Tags = nonNilTags(u.Tags)
	}
	now := time.Now()
	for i := range u.Schedules {
		if err := u.Schedules[i].Normalize("schedules."+strconv.Itoa(i), now); err != nil {
			return err
		}
	}
	return nil
}

// DeploymentFlowRunCreate is the body of POST /deployments/{id}/create_flow_run.
type DeploymentFlowRunCreate struct {
	RunCreateFields
	EnforceParameterSchema *bool `json:"enforce_parameter_schema"`
}

// Validate checks the body and fills Prefect's defaults.
func (c *DeploymentFlowRunCreate) Validate() error { return c.validate() }

// DeploymentFlowRunCreates is the body of POST
// /deployments/{id}/create_flow_run/bulk.
type DeploymentFlowRunCreates []DeploymentFlowRunCreate

// Validate checks every run's request, naming its index in an error.
func (c *DeploymentFlowRunCreates) Validate() error {
	if *c == nil {
		return Invalid("", "Field required")
	}
	for i := range *c {
		if err := (*c)[i].Validate(); err != nil {
			var v *ValidationError
			if errors.As(err, &v) {
				return Invalid(strconv.Itoa(i)+"."+v.Loc, v.Msg)
			}
			return err
		}
	}
	return nil
}

// FlowRunCreateResult is one run's answer in a bulk create.
type FlowRunCreateResult struct {
	FlowRunID *uuid.UUID `json:"flow_run_id"`
	Status    string     `json:"status"` // CREATED or FAILED
	Error     *string    `json:"error"`
}

// FlowRunBulkCreateResponse answers create_flow_run/bulk, one result per
// request in order.
type FlowRunBulkCreateResponse struct {
	Results []FlowRunCreateResult `json:"results"`
}

// DeploymentScheduleRequest is the body of POST /deployments/{id}/schedule;
// what is left out comes from the scheduler's settings.
type DeploymentScheduleRequest struct {
	StartTime *DateTime `json:"start_time"`
	EndTime   *DateTime `json:"end_time"`
	MinTime   *float64  `json:"min_time"` // seconds
	MinRuns   *int      `json:"min_runs"`
	MaxRuns   *int      `json:"max_runs"`
}

// EmbeddedBody marks DeploymentScheduleRequest as FastAPI's body of several parameters.
func (DeploymentScheduleRequest) EmbeddedBody() {}

// DeploymentScheduledRunsRequest is the body of POST
// /deployments/get_scheduled_flow_runs.
type DeploymentScheduledRunsRequest struct {
	DeploymentIDs   []uuid.UUID `json:"deployment_ids"`
	ScheduledBefore *DateTime   `json:"scheduled_before"`
	Limit           *int        `json:"limit"`
}

// EmbeddedBody marks DeploymentScheduledRunsRequest as FastAPI's body of several parameters.
func (DeploymentScheduledRunsRequest) EmbeddedBody() {}

// Validate checks the body.
func (r *DeploymentScheduledRunsRequest) Validate() error {
	if r.DeploymentIDs == nil {
		return Invalid("deployment_ids", "Field required")
	}
	return nil
}

// LikeFilter is a case-insensitive substring match.
type LikeFilter struct {
	Like *string `json:"like_"`
}

// DeploymentFilter selects deployments.
type DeploymentFilter struct {
	Operator             Operator    `json:"operator"`
	ID                   *IDFilter   `json:"id"`
	Name                 *TextFilter `json:"name"`
	FlowOrDeploymentName *LikeFilter `json:"flow_or_deployment_name"`
	Paused               *BoolFilter `json:"paused"`
	Tags                 *TagsFilter `json:"tags"`
	WorkQueueName        *TextFilter `json:"work_queue_name"`
	_                    *struct {
		_ *int  `ignored:"ge_"`
		_ *int  `ignored:"le_"`
		_ *bool `ignored:"is_null_"`
	} `ignored:"concurrency_limit"`
}

// DeploymentQuery is the body of POST /deployments/filter, /count and
// /paginate: filters on the deployments and on related objects.
type DeploymentQuery struct {
	Flows          *FlowFilter       `json:"flows"`
	FlowRuns       *FlowRunFilter    `json:"flow_runs"`
	TaskRuns       *TaskRunFilter    `json:"task_runs"`
	Deployments    *DeploymentFilter `json:"deployments"`
	WorkPools      *WorkPoolFilter   `json:"work_pools"`
	WorkPoolQueues *WorkQueueFilter  `json:"work_pool_queues"`
	Sort           string            `json:"sort"`
	// PageNumber is the page of /paginate, from 1.
	PageNumber *int `json:"page"`
	Page
}

// Pagination is the answer of the /paginate routes: one page of results,
// with the count of everything the filters match.
type Pagination[T any] struct {
	Results []T `json:"results"`
	Count   int `json:"count"`
	Limit   int `json:"limit"`
	Pages   int `json:"pages"`
	Page    int `json:"page"`
}

func isListOrNull(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null" || strings.HasPrefix(t, "[")
}

// validateNamePatternEmptyOK is Prefect's NameOrEmpty.
func validateNamePatternEmptyOK(loc, name string) error {
	if name == "" {
		return nil
	}
	if !namePattern.MatchString(name) {
		return Invalid(loc, "String should match pattern '^[^/%&><]*$'")
	}
	return nil
}

// SchedulesBySlug reports whether a deployment PATCH with these schedules
// updates the existing schedules by slug rather than replacing them: every
// sent schedule and every existing one (there must be some) has a slug.
func SchedulesBySlug(existing []DeploymentSchedule, sent []DeploymentScheduleUpdate) bool {
	if len(existing) == 0 {
		return false
	}
	for _, sc := range existing {
		if sc.Slug == nil {
			return false
		}
	}
	for _, sc := range sent {
		if sc.Slug == nil {
			return false
		}
	}
	return true
}
