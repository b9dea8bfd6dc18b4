package schema

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// TaskRunPolicy is a task run's empirical_policy. retry_delay may be a number
// or a list of numbers indexed by attempt, so it stays raw.
type TaskRunPolicy struct {
	MaxRetries        int             `json:"max_retries"`
	RetryDelaySeconds float64         `json:"retry_delay_seconds"`
	Retries           *int            `json:"retries"`
	RetryDelay        json.RawMessage `json:"retry_delay"`
	RetryJitterFactor *float64        `json:"retry_jitter_factor"`
}

// IgnoresUnknownKeys: Prefect's TaskRunPolicy ignores keys it does not declare.
func (TaskRunPolicy) IgnoresUnknownKeys() {}

// Normalize fills Prefect's defaults, including the legacy max_retries fields.
func (p *TaskRunPolicy) Normalize() {
	if p.Retries == nil && p.MaxRetries != 0 {
		r := p.MaxRetries
		p.Retries = &r
	}
	if len(p.RetryDelay) == 0 || string(p.RetryDelay) == "null" {
		if p.RetryDelaySeconds != 0 {
			b, _ := json.Marshal(p.RetryDelaySeconds)
			p.RetryDelay = b
		} else {
			p.RetryDelay = json.RawMessage("null")
		}
	}
}

// DelayFor returns the retry delay in seconds before attempt runCount+1:
// a list is indexed by runCount-1 (its last value repeats), a number applies
// to every attempt.
func (p TaskRunPolicy) DelayFor(runCount int) float64 {
	var one float64
	if json.Unmarshal(p.RetryDelay, &one) == nil {
		return one
	}
	var list []float64
	if json.Unmarshal(p.RetryDelay, &list) == nil && len(list) > 0 {
		i := runCount - 1
		if i < 0 {
			i = 0
		}
		if i >= len(list) {
			i = len(list) - 1
		}
		return list[i]
	}
	return 0
}

// TaskRun is a task run with its current state.
type TaskRun struct {
	ID                      uuid.UUID       `json:"id"`
	Created                 time.Time       `json:"created"`
	Updated                 time.Time       `json:"updated"`
	Name                    string          `json:"name"`
	FlowRunID               *uuid.UUID      `json:"flow_run_id"`
	TaskKey                 string          `json:"task_key"`
	DynamicKey              string          `json:"dynamic_key"`
	CacheKey                *string         `json:"cache_key"`
	CacheExpiration         *time.Time      `json:"cache_expiration"`
	TaskVersion             *string         `json:"task_version"`
	EmpiricalPolicy         TaskRunPolicy   `json:"empirical_policy"`
	Tags                    []string        `json:"tags"`
	Labels                  json.RawMessage `json:"labels"`
	StateID                 *uuid.UUID      `json:"state_id"`
	TaskInputs              json.RawMessage `json:"task_inputs"`
	StateType               *StateType      `json:"state_type"`
	StateName               *string         `json:"state_name"`
	RunCount                int             `json:"run_count"`
	FlowRunRunCount         int             `json:"flow_run_run_count"`
	ExpectedStartTime       *time.Time      `json:"expected_start_time"`
	NextScheduledStartTime  *time.Time      `json:"next_scheduled_start_time"`
	StartTime               *time.Time      `json:"start_time"`
	EndTime                 *time.Time      `json:"end_time"`
	TotalRunTime            float64         `json:"total_run_time"`
	EstimatedRunTime        float64         `json:"estimated_run_time"`
	EstimatedStartTimeDelta float64         `json:"estimated_start_time_delta"`
	State                   *State          `json:"state"`
}

// UnmarshalJSON reads a task run with its datetimes read as DateTime: the
// task-run recorder decodes the ones clients put in their events.
func (r *TaskRun) UnmarshalJSON(b []byte) error {
	type Run TaskRun // without this method
	var w struct {
		*Run
		Created                DateTime  `json:"created"`
		Updated                DateTime  `json:"updated"`
		CacheExpiration        *DateTime `json:"cache_expiration"`
		ExpectedStartTime      *DateTime `json:"expected_start_time"`
		NextScheduledStartTime *DateTime `json:"next_scheduled_start_time"`
		StartTime              *DateTime `json:"start_time"`
		EndTime                *DateTime `json:"end_time"`
	}
	w.Run = (*Run)(r)
	w.Created, w.Updated = DateTime{r.Created}, DateTime{r.Updated}
	w.CacheExpiration, w.ExpectedStartTime = dateTimePtr(r.CacheExpiration), dateTimePtr(r.ExpectedStartTime)
	w.NextScheduledStartTime, w.StartTime, w.EndTime = dateTimePtr(r.NextScheduledStartTime), dateTimePtr(r.StartTime), dateTimePtr(r.EndTime)
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	r.Created, r.Updated = w.Created.Time, w.Updated.Time
	r.CacheExpiration, r.ExpectedStartTime = w.CacheExpiration.Ptr(), w.ExpectedStartTime.Ptr()
	r.NextScheduledStartTime, r.StartTime, r.EndTime = w.NextScheduledStartTime.Ptr(), w.StartTime.Ptr(), w.EndTime.Ptr()
	return nil
}

// TaskRunCreate is the body of POST /task_runs/ (an upsert by flow run,
// task key and dynamic key), and what the task-run recorder builds from events.
type TaskRunCreate struct {
	ID              *uuid.UUID      `json:"id"`
	Name            *string         `json:"name"`
	FlowRunID       *uuid.UUID      `json:"flow_run_id"`
	TaskKey         string          `json:"task_key"`
	DynamicKey      string          `json:"dynamic_key"`
	CacheKey        *string         `json:"cache_key"`
	CacheExpiration *DateTime       `json:"cache_expiration"`
	TaskVersion     *string         `json:"task_version"`
	EmpiricalPolicy *TaskRunPolicy  `json:"empirical_policy"`
	Tags            []string        `json:"tags"`
	Labels          json.RawMessage `json:"labels"`
	TaskInputs      json.RawMessage `json:"task_inputs"`
	State           *StateCreate    `json:"state"`
}

// Validate checks the body and fills Prefect's defaults.
func (c *TaskRunCreate) Validate() error {
	if c.TaskKey == "" {
		return Invalid("task_key", "Field required")
	}
	if c.State != nil {
		if err := c.State.Validate(); err != nil {
			return err
		}
	}
	c.Tags = nonNilTags(c.Tags)
	c.Labels = objectOrEmpty(c.Labels)
	c.TaskInputs = objectOrEmpty(c.TaskInputs)
	if c.EmpiricalPolicy == nil {
		c.EmpiricalPolicy = &TaskRunPolicy{}
	}
	c.EmpiricalPolicy.Normalize()
	if c.Name == nil || *c.Name == "" {
		n := GenerateSlug()
		c.Name = &n
	}
	return nil
}

// TaskRunUpdate is the body of PATCH /task_runs/{id}.
type TaskRunUpdate struct {
	Name *string `json:"name"`
}
