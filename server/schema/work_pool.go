package schema

import (
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Statuses of work pools, queues and workers, upper case on the wire.
const (
	StatusReady    = "READY"
	StatusNotReady = "NOT_READY"
	StatusPaused   = "PAUSED"

	WorkerOnline  = "ONLINE"
	WorkerOffline = "OFFLINE"
)

// AgentPoolType is the type of Prefect's legacy agent pool, whose status is
// always null on the wire; DefaultAgentPoolName is that pool, which holds
// queues named without a pool.
const (
	AgentPoolType        = "prefect-agent"
	DefaultAgentPoolName = "default-agent-pool"
	// DefaultQueueName is the queue every pool is created with.
	DefaultQueueName = "default"
)

// Worker liveness, as Prefect's WorkerResponse computes it: a worker is online
// while its last heartbeat is younger than three heartbeat intervals.
const (
	DefaultHeartbeatIntervalSeconds = 30
	InactivityHeartbeatMultiple     = 3
)

// Optional is a field of a body that tells "absent" from "null", for the
// PATCH bodies where null clears a value and absence leaves it alone.
type Optional[T any] struct {
	Set   bool // the key was in the body
	Value *T   // nil when it was null
}

// KeysOf: an Optional field has the keys of what it holds.
func (Optional[T]) KeysOf() reflect.Type { return reflect.TypeFor[T]() }

// UnmarshalJSON records that the key was present.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	o.Value = v
	return nil
}

// MarshalJSON writes the value, or null.
func (o Optional[T]) MarshalJSON() ([]byte, error) {
	if o.Value == nil {
		return []byte("null"), nil
	}
	return json.Marshal(*o.Value)
}

// Some is an Optional set to v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: &v} }

// WorkPoolStorageConfiguration says where a pool's workers put and find
// bundles and results.
type WorkPoolStorageConfiguration struct {
	BundleUploadStep            json.RawMessage `json:"bundle_upload_step"`
	BundleExecutionStep         json.RawMessage `json:"bundle_execution_step"`
	DefaultResultStorageBlockID *uuid.UUID      `json:"default_result_storage_block_id"`
}

func (c *WorkPoolStorageConfiguration) validate(loc string) error {
	if !isObjectOrNull(c.BundleUploadStep) {
		return Invalid(loc+".bundle_upload_step", "Input should be a valid dictionary")
	}
	if !isObjectOrNull(c.BundleExecutionStep) {
		return Invalid(loc+".bundle_execution_step", "Input should be a valid dictionary")
	}
	return nil
}

// WorkPool is a pool of infrastructure that workers take flow runs to.
type WorkPool struct {
	ID                   uuid.UUID                    `json:"id"`
	Created              time.Time                    `json:"created"`
	Updated              time.Time                    `json:"updated"`
	Name                 string                       `json:"name"`
	Description          *string                      `json:"description"`
	Type                 string                       `json:"type"`
	BaseJobTemplate      json.RawMessage              `json:"base_job_template"`
	IsPaused             bool                         `json:"is_paused"`
	ConcurrencyLimit     *int                         `json:"concurrency_limit"`
	Status               *string                      `json:"status"`
	DefaultQueueID       *uuid.UUID                   `json:"default_queue_id"`
	StorageConfiguration WorkPoolStorageConfiguration `json:"storage_configuration"`
	// ActiveSlots counts the pool's runs holding a slot; set only when the
	// pool has a concurrency limit.
	ActiveSlots *int `json:"active_slots"`
}

// WorkPoolCreate is the body of POST /work_pools/.
type WorkPoolCreate struct {
	Name                 string                        `json:"name"`
	Description          *string                       `json:"description"`
	Type                 string                        `json:"type"`
	BaseJobTemplate      json.RawMessage               `json:"base_job_template"`
	IsPaused             bool                          `json:"is_paused"`
	ConcurrencyLimit     *int                          `json:"concurrency_limit"`
	StorageConfiguration *WorkPoolStorageConfiguration `json:"storage_configuration"`
}

// Validate checks the body and fills Prefect's defaults.
func (c *WorkPoolCreate) Validate() error {
	if err := validateNonEmptyishName("name", c.Name); err != nil {
		return err
	}
	if c.Type == "" {
		c.Type = AgentPoolType
	}
	if err := nonNegative("concurrency_limit", c.ConcurrencyLimit); err != nil {
		return err
	}
	c.BaseJobTemplate = objectOrEmpty(c.BaseJobTemplate)
	if err := ValidateBaseJobTemplate("base_job_template", c.BaseJobTemplate); err != nil {
		return err
	}
	if c.StorageConfiguration == nil {
		c.StorageConfiguration = &WorkPoolStorageConfiguration{}
	}
	return c.StorageConfiguration.validate("storage_configuration")
}

// WorkPoolUpdate is the body of PATCH /work_pools/{name}; absent fields are
// left alone, a null concurrency_limit removes the limit.
type WorkPoolUpdate struct {
	Description          Optional[string]                       `json:"description"`
	IsPaused             Optional[bool]                         `json:"is_paused"`
	BaseJobTemplate      json.RawMessage                        `json:"base_job_template"`
	ConcurrencyLimit     Optional[int]                          `json:"concurrency_limit"`
	StorageConfiguration Optional[WorkPoolStorageConfiguration] `json:"storage_configuration"`
}

// Validate checks the body.
func (u *WorkPoolUpdate) Validate() error {
	if err := nonNegative("concurrency_limit", u.ConcurrencyLimit.Value); err != nil {
		return err
	}
	if len(u.BaseJobTemplate) > 0 && string(u.BaseJobTemplate) != "null" {
		if err := ValidateBaseJobTemplate("base_job_template", u.BaseJobTemplate); err != nil {
			return err
		}
	} else {
		u.BaseJobTemplate = nil
	}
	if u.StorageConfiguration.Value != nil {
		return u.StorageConfiguration.Value.validate("storage_configuration")
	}
	return nil
}

// Fields lists the keys the update sets, for the rule that pools named
// prefect* may only be paused or limited.
func (u *WorkPoolUpdate) Fields() []string {
	var out []string
	if u.Description.Set {
		out = append(out, "description")
	}
	if u.IsPaused.Set {
		out = append(out, "is_paused")
	}
	if u.BaseJobTemplate != nil {
		out = append(out, "base_job_template")
	}
	if u.ConcurrencyLimit.Set {
		out = append(out, "concurrency_limit")
	}
	if u.StorageConfiguration.Set {
		out = append(out, "storage_configuration")
	}
	return out
}

// placeholderRe finds {{ name }} placeholders in a job configuration.
var placeholderRe = regexp.MustCompile(`\{\{\s*([\w.\-\[\]$]+)\s*\}\}`)

// ValidateBaseJobTemplate applies Prefect's rule: an empty template, or one
// with a job_configuration and a variables schema that declares every
// variable the configuration uses.
func ValidateBaseJobTemplate(loc string, raw json.RawMessage) error {
	var t map[string]json.RawMessage
	if err := json.Unmarshal(raw, &t); err != nil {
		return Invalid(loc, "Input should be a valid dictionary")
	}
	if len(t) == 0 {
		return nil
	}
	var config, variables map[string]json.RawMessage
	_ = json.Unmarshal(t["job_configuration"], &config)
	_ = json.Unmarshal(t["variables"], &variables)
	if len(config) == 0 || len(variables) == 0 {
		return Invalid(loc, "Value error, The `base_job_template` must contain both a `job_configuration` key and a `variables` key.")
	}
	var properties map[string]json.RawMessage
	_ = json.Unmarshal(variables["properties"], &properties)
	used := map[string]bool{}
	for _, v := range config {
		for _, m := range placeholderRe.FindAllStringSubmatch(string(v), -1) {
			used[m[1]] = true
		}
	}
	var missing []string
	for name := range used {
		if _, ok := properties[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Invalid(loc, "Value error, The variables specified in the job configuration template must be present as properties in the variables schema. "+
			"Your job configuration uses the following undeclared variable(s): "+strings.Join(missing, " ,")+".")
	}
	return nil
}

// WorkQueue is a queue of a work pool; workers take runs from the queues of
// their pool by priority (1 first).
type WorkQueue struct {
	ID               uuid.UUID       `json:"id"`
	Created          time.Time       `json:"created"`
	Updated          time.Time       `json:"updated"`
	Name             string          `json:"name"`
	Description      *string         `json:"description"`
	IsPaused         bool            `json:"is_paused"`
	ConcurrencyLimit *int            `json:"concurrency_limit"`
	Priority         int             `json:"priority"`
	WorkPoolID       *uuid.UUID      `json:"work_pool_id"`
	Filter           json.RawMessage `json:"filter"`
	LastPolled       *time.Time      `json:"last_polled"`
	Status           *string         `json:"status"`
	WorkPoolName     *string         `json:"work_pool_name"`
	ActiveSlots      *int            `json:"active_slots"`
}

// WorkQueueCreate is the body of POST /work_pools/{pool}/queues/ and of the
// legacy POST /work_queues/.
type WorkQueueCreate struct {
	Name             string          `json:"name"`
	Description      *string         `json:"description"`
	IsPaused         bool            `json:"is_paused"`
	ConcurrencyLimit *int            `json:"concurrency_limit"`
	Priority         *int            `json:"priority"`
	Filter           json.RawMessage `json:"filter"`
	// WorkPoolName is read by the legacy route only; absent means the
	// default agent pool.
	WorkPoolName *string `json:"work_pool_name"`
}

// Validate checks the body and fills Prefect's defaults.
func (c *WorkQueueCreate) Validate() error {
	if c.Name == "" {
		return Invalid("name", "Field required")
	}
	if err := validateNamePattern("name", c.Name); err != nil {
		return err
	}
	if err := nonNegative("concurrency_limit", c.ConcurrencyLimit); err != nil {
		return err
	}
	if c.Priority != nil && *c.Priority < 1 {
		return Invalid("priority", "Input should be greater than 0")
	}
	if c.Description == nil {
		empty := ""
		c.Description = &empty
	}
	if string(c.Filter) == "null" {
		c.Filter = nil
	}
	return nil
}

// WorkQueueUpdate is the body of PATCH on a queue.
type WorkQueueUpdate struct {
	Name             *string            `json:"name"`
	Description      Optional[string]   `json:"description"`
	IsPaused         *bool              `json:"is_paused"`
	ConcurrencyLimit Optional[int]      `json:"concurrency_limit"`
	Priority         *int               `json:"priority"`
	LastPolled       Optional[DateTime] `json:"last_polled"`
	// filter is the deprecated tags and deployments selection of legacy
	// queues, which Prefect still accepts and ignores.
	_ json.RawMessage `ignored:"filter"`
}

// Validate checks the body.
func (u *WorkQueueUpdate) Validate() error {
	if u.Name != nil {
		if *u.Name == "" {
			return Invalid("name", "String should match pattern '^[^/%&><]+$'")
		}
		if err := validateNamePattern("name", *u.Name); err != nil {
			return err
		}
	}
	if err := nonNegative("concurrency_limit", u.ConcurrencyLimit.Value); err != nil {
		return err
	}
	if u.Priority != nil && *u.Priority < 1 {
		return Invalid("priority", "Input should be greater than 0")
	}
	return nil
}

// Worker is a worker process polling a pool.
type Worker struct {
	ID                       uuid.UUID  `json:"id"`
	Created                  time.Time  `json:"created"`
	Updated                  time.Time  `json:"updated"`
	Name                     string     `json:"name"`
	WorkPoolID               uuid.UUID  `json:"work_pool_id"`
	LastHeartbeatTime        *time.Time `json:"last_heartbeat_time"`
	HeartbeatIntervalSeconds *int       `json:"heartbeat_interval_seconds"`
	Status                   string     `json:"status"`
}

// Online reports whether the worker has sent a heartbeat within three of
// its heartbeat intervals before now.
func (w Worker) Online(now time.Time) bool {
	if w.LastHeartbeatTime == nil {
		return false
	}
	interval := DefaultHeartbeatIntervalSeconds
	if w.HeartbeatIntervalSeconds != nil && *w.HeartbeatIntervalSeconds > 0 {
		interval = *w.HeartbeatIntervalSeconds
	}
	horizon := now.Add(-time.Duration(interval*InactivityHeartbeatMultiple) * time.Second)
	return w.LastHeartbeatTime.After(horizon)
}

// WorkerHeartbeat is the body of POST /work_pools/{name}/workers/heartbeat.
type WorkerHeartbeat struct {
	Name                     string `json:"name"`
	HeartbeatIntervalSeconds *int   `json:"heartbeat_interval_seconds"`
	// fractional records an interval that is not a whole number, for Validate.
	fractional bool
}

// EmbeddedBody marks WorkerHeartbeat as FastAPI's body of several parameters.
func (WorkerHeartbeat) EmbeddedBody() {}

// UnmarshalJSON reads the interval as pydantic's lax int does: a whole
// number written as a float counts. A worker made in Python (not by
// `prefect worker start`) sends its setting's 30.0.
func (h *WorkerHeartbeat) UnmarshalJSON(b []byte) error {
	var raw workerHeartbeatJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*h = WorkerHeartbeat{Name: raw.Name}
	if f := raw.HeartbeatIntervalSeconds; f != nil {
		if *f != math.Trunc(*f) || math.Abs(*f) > math.MaxInt32 {
			h.fractional = true
		} else {
			h.HeartbeatIntervalSeconds = new(int(*f))
		}
	}
	return nil
}

// workerHeartbeatJSON is WorkerHeartbeat as it is read.
type workerHeartbeatJSON struct {
	Name                     string   `json:"name"`
	HeartbeatIntervalSeconds *float64 `json:"heartbeat_interval_seconds"`
}

// KeysOf: the keys and types WorkerHeartbeat reads.
func (WorkerHeartbeat) KeysOf() reflect.Type { return reflect.TypeFor[workerHeartbeatJSON]() }

func (workerHeartbeatJSON) EmbeddedBody() {}

// Validate checks the body.
func (h *WorkerHeartbeat) Validate() error {
	if h.Name == "" {
		return Invalid("name", "Field required")
	}
	if h.fractional {
		return Invalid("heartbeat_interval_seconds", "Input should be a valid integer, got a number with a fractional part")
	}
	return nil
}

// WorkerFlowRun is one element of the answer to a worker's poll.
type WorkerFlowRun struct {
	WorkPoolID  uuid.UUID `json:"work_pool_id"`
	WorkQueueID uuid.UUID `json:"work_queue_id"`
	FlowRun     FlowRun   `json:"flow_run"`
}

// WorkerScheduledRunsRequest is the body of POST
// /work_pools/{name}/get_scheduled_flow_runs.
type WorkerScheduledRunsRequest struct {
	WorkQueueNames  []string  `json:"work_queue_names"`
	ScheduledBefore *DateTime `json:"scheduled_before"`
	ScheduledAfter  *DateTime `json:"scheduled_after"`
	Limit           *int      `json:"limit"`
}

// EmbeddedBody marks WorkerScheduledRunsRequest as FastAPI's body of several parameters.
func (WorkerScheduledRunsRequest) EmbeddedBody() {}

// ScheduledRunsQuery selects the runs a worker may take from a pool.
type ScheduledRunsQuery struct {
	WorkPoolID uuid.UUID
	// WorkQueueIDs restricts the poll to these queues; nil means all of them.
	WorkQueueIDs    []uuid.UUID
	ScheduledBefore *time.Time
	ScheduledAfter  *time.Time
	Limit           int
}

// WorkPoolFilter selects work pools.
type WorkPoolFilter struct {
	Operator Operator    `json:"operator"`
	ID       *IDFilter   `json:"id"`
	Name     *TextFilter `json:"name"`
	Type     *TextFilter `json:"type"`
}

// WorkQueueFilter selects work queues.
type WorkQueueFilter struct {
	Operator Operator    `json:"operator"`
	ID       *IDFilter   `json:"id"`
	Name     *TextFilter `json:"name"`
}

// WorkerStatusFilter matches worker statuses.
type WorkerStatusFilter struct {
	Any    []string `json:"any_"`
	NotAny []string `json:"not_any_"`
}

// WorkerFilter selects workers.
type WorkerFilter struct {
	Operator          Operator            `json:"operator"`
	LastHeartbeatTime *TimeFilter         `json:"last_heartbeat_time"`
	Status            *WorkerStatusFilter `json:"status"`
}

// WorkPoolQuery is the body of POST /work_pools/filter and /count.
type WorkPoolQuery struct {
	WorkPools *WorkPoolFilter `json:"work_pools"`
	Page
}

// WorkQueueQuery is the body of the queue filter routes.
type WorkQueueQuery struct {
	WorkQueues *WorkQueueFilter `json:"work_queues"`
	Page
}

// WorkerQuery is the body of POST /work_pools/{name}/workers/filter.
type WorkerQuery struct {
	Workers *WorkerFilter `json:"workers"`
	Page
}

// namePattern is Prefect's Name type: no characters that break URLs.
var namePattern = regexp.MustCompile(`^[^/%&><]+$`)

func validateNamePattern(loc, name string) error {
	if !namePattern.MatchString(name) {
		return Invalid(loc, "String should match pattern '^[^/%&><]+$'")
	}
	return nil
}

// validateNonEmptyishName is Prefect's NonEmptyishName: required, not just
// quotes and spaces, and without URL-breaking characters.
func validateNonEmptyishName(loc, name string) error {
	if strings.Trim(name, "' \"") == "" {
		return Invalid(loc, "Value error, name cannot be an empty string")
	}
	return validateNamePattern(loc, name)
}

func nonNegative(loc string, v *int) error {
	if v != nil && *v < 0 {
		return Invalid(loc, "Input should be greater than or equal to 0")
	}
	return nil
}

func isObjectOrNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || strings.HasPrefix(s, "{")
}

// itoa is strconv.Itoa, for messages.
func itoa(n int) string { return strconv.Itoa(n) }

// NotFoundError is a missing object named in Prefect's words, for the
// routes whose 404 says which one (`Work pool "x" not found.`). It matches
// ErrNotFound.
type NotFoundError struct{ Detail string }

func (e *NotFoundError) Error() string { return e.Detail }

// Is makes errors.Is(err, ErrNotFound) hold.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// WorkPoolNotFound is the error for a pool that does not exist.
func WorkPoolNotFound(name string) error {
	return &NotFoundError{`Work pool "` + name + `" not found.`}
}

// WorkQueueNotFound is the error for a queue that does not exist in a pool.
func WorkQueueNotFound(pool, queue string) error {
	return &NotFoundError{"Work pool queue '" + pool + "/" + queue + "' not found."}
}

// FlowRunSlotSummary is a flow run holding a concurrency slot, as the
// concurrency_status routes list it.
type FlowRunSlotSummary struct {
	ID             uuid.UUID  `json:"id"`
	Name           string     `json:"name"`
	StateType      *string    `json:"state_type"`
	StateName      *string    `json:"state_name"`
	StartTime      *time.Time `json:"start_time"`
	StateTimestamp *time.Time `json:"state_timestamp"`
	// TimeInCurrentState is in seconds, as Prefect serialises a timedelta.
	TimeInCurrentState *float64 `json:"time_in_current_state"`
}

// WorkQueueConcurrencyStatusDetail is one queue of a pool's concurrency status.
type WorkQueueConcurrencyStatusDetail struct {
	QueueID          uuid.UUID            `json:"queue_id"`
	QueueName        string               `json:"queue_name"`
	ActiveSlots      int                  `json:"active_slots"`
	ConcurrencyLimit *int                 `json:"concurrency_limit"`
	FlowRuns         []FlowRunSlotSummary `json:"flow_runs"`
	FlowRunCount     int                  `json:"flow_run_count"`
}

// WorkPoolConcurrencyStatus answers POST /work_pools/{name}/concurrency_status:
// the pool's slots in use and a page of its queues with theirs.
type WorkPoolConcurrencyStatus struct {
	ActiveSlots      int                                `json:"active_slots"`
	ConcurrencyLimit *int                               `json:"concurrency_limit"`
	Queues           []WorkQueueConcurrencyStatusDetail `json:"queues"`
	Count            int                                `json:"count"`
	Limit            int                                `json:"limit"`
	Pages            int                                `json:"pages"`
	Page             int                                `json:"page"`
}

// WorkQueueConcurrencyStatus answers POST /work_queues/{id}/concurrency_status:
// the queue's slots in use and a page of the runs holding them.
type WorkQueueConcurrencyStatus struct {
	ActiveSlots      int                  `json:"active_slots"`
	ConcurrencyLimit *int                 `json:"concurrency_limit"`
	FlowRuns         []FlowRunSlotSummary `json:"flow_runs"`
	Count            int                  `json:"count"`
	Limit            int                  `json:"limit"`
	Pages            int                  `json:"pages"`
	Page             int                  `json:"page"`
}

// ConcurrencyStatusQuery is the body of the concurrency_status routes;
// FlowRunLimit (runs listed per queue) is the pool route's only.
type ConcurrencyStatusQuery struct {
	PageNumber   *int `json:"page"`
	Limit        *int `json:"limit"`
	FlowRunLimit *int `json:"flow_run_limit"`
}

// EmbeddedBody marks ConcurrencyStatusQuery as FastAPI's body of several parameters.
func (ConcurrencyStatusQuery) EmbeddedBody() {}

// Validate checks the bounds FastAPI checks.
func (q *ConcurrencyStatusQuery) Validate() error {
	if q.FlowRunLimit != nil && *q.FlowRunLimit < 0 {
		return Invalid("flow_run_limit", "Input should be greater than or equal to 0")
	}
	if q.FlowRunLimit != nil && *q.FlowRunLimit > 200 {
		return Invalid("flow_run_limit", "Input should be less than or equal to 200")
	}
	return nil
}
