package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
)

// StateType is the kind of a run state, upper case on the wire.
type StateType string

const (
	StateScheduled  StateType = "SCHEDULED"
	StatePending    StateType = "PENDING"
	StateRunning    StateType = "RUNNING"
	StateCompleted  StateType = "COMPLETED"
	StateFailed     StateType = "FAILED"
	StateCancelled  StateType = "CANCELLED"
	StateCrashed    StateType = "CRASHED"
	StatePaused     StateType = "PAUSED"
	StateCancelling StateType = "CANCELLING"
)

// StateTypes lists every state type, in Prefect's order.
var StateTypes = []StateType{StateScheduled, StatePending, StateRunning, StateCompleted,
	StateFailed, StateCancelled, StateCrashed, StatePaused, StateCancelling}

// Valid reports whether t is one of Prefect's state types.
func (t StateType) Valid() bool {
	for _, s := range StateTypes {
		if s == t {
			return true
		}
	}
	return false
}

// Terminal reports whether a run in this state has finished.
func (t StateType) Terminal() bool {
	switch t {
	case StateCompleted, StateFailed, StateCancelled, StateCrashed:
		return true
	}
	return false
}

// DefaultName is the name Prefect gives a state of this type when the client
// sends none: the capitalised type ("Running", "Cancelling").
func (t StateType) DefaultName() string {
	if t == "" {
		return ""
	}
	s := strings.ToLower(string(t))
	return strings.ToUpper(s[:1]) + s[1:]
}

// StateDetails carries the bookkeeping Prefect attaches to a state. Every key
// is always present on the wire.
type StateDetails struct {
	FlowRunID                    *uuid.UUID       `json:"flow_run_id"`
	TaskRunID                    *uuid.UUID       `json:"task_run_id"`
	ChildFlowRunID               *uuid.UUID       `json:"child_flow_run_id"`
	ScheduledTime                *time.Time       `json:"scheduled_time"`
	CacheKey                     *string          `json:"cache_key"`
	CacheExpiration              *time.Time       `json:"cache_expiration"`
	Deferred                     bool             `json:"deferred"`
	UntrackableResult            bool             `json:"untrackable_result"`
	PauseTimeout                 *time.Time       `json:"pause_timeout"`
	PauseReschedule              bool             `json:"pause_reschedule"`
	PauseKey                     *string          `json:"pause_key"`
	RunInputKeyset               *json.RawMessage `json:"run_input_keyset"`
	RefreshCache                 *bool            `json:"refresh_cache"`
	Retriable                    *bool            `json:"retriable"`
	TransitionID                 *uuid.UUID       `json:"transition_id"`
	TaskParametersID             *uuid.UUID       `json:"task_parameters_id"`
	Traceparent                  *string          `json:"traceparent"`
	DeploymentConcurrencyLeaseID *uuid.UUID       `json:"deployment_concurrency_lease_id"`
}

// UnmarshalJSON reads the details with their datetimes read as DateTime
// (pydantic's formats and range), since clients send them in proposed states.
func (d *StateDetails) UnmarshalJSON(b []byte) error {
	w := stateDetailsJSON{stateDetailsFields: (*stateDetailsFields)(d),
		ScheduledTime: dateTimePtr(d.ScheduledTime), CacheExpiration: dateTimePtr(d.CacheExpiration), PauseTimeout: dateTimePtr(d.PauseTimeout)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d.ScheduledTime, d.CacheExpiration, d.PauseTimeout = w.ScheduledTime.Ptr(), w.CacheExpiration.Ptr(), w.PauseTimeout.Ptr()
	return nil
}

// stateDetailsJSON is StateDetails as it is read.
type stateDetailsJSON struct {
	*stateDetailsFields
	ScheduledTime   *DateTime `json:"scheduled_time"`
	CacheExpiration *DateTime `json:"cache_expiration"`
	PauseTimeout    *DateTime `json:"pause_timeout"`
}

// stateDetailsFields is StateDetails without its methods.
type stateDetailsFields StateDetails

// KeysOf: the keys and types StateDetails reads.
func (StateDetails) KeysOf() reflect.Type { return reflect.TypeFor[stateDetailsJSON]() }

func (stateDetailsJSON) IgnoresUnknownKeys() {}

// IgnoresUnknownKeys: Prefect's StateDetails ignores keys it does not declare.
func (StateDetails) IgnoresUnknownKeys() {}

// State is a run's state as stored and returned.
type State struct {
	ID           uuid.UUID        `json:"id"`
	Type         StateType        `json:"type"`
	Name         string           `json:"name"`
	Timestamp    time.Time        `json:"timestamp"`
	Message      *string          `json:"message"`
	Data         *json.RawMessage `json:"data"`
	StateDetails StateDetails     `json:"state_details"`
}

// StateCreate is a state proposed by a client.
type StateCreate struct {
	Type         StateType        `json:"type"`
	Name         *string          `json:"name"`
	Message      *string          `json:"message"`
	Data         *json.RawMessage `json:"data"`
	StateDetails StateDetails     `json:"state_details"`
	// Timestamp is accepted from clients that send one (the task-run recorder
	// path); the server otherwise stamps the state.
	Timestamp *DateTime  `json:"timestamp,omitempty"`
	ID        *uuid.UUID `json:"id,omitempty"`
}

// Validate checks a proposed state and fills Prefect's defaults.
func (s *StateCreate) Validate() error {
	if !s.Type.Valid() {
		return Invalid("state.type", "value is not a valid state type: "+quote(string(s.Type)))
	}
	return nil
}

// ToState turns a proposal into a state stamped at now, with Prefect's
// defaults: the type's name, and now as the scheduled time of a Scheduled state.
func (s StateCreate) ToState(now time.Time) State {
	st := State{
		ID:           uuid.Must(uuid.NewV7()),
		Type:         s.Type,
		Timestamp:    now,
		Message:      s.Message,
		Data:         s.Data,
		StateDetails: s.StateDetails,
	}
	if s.ID != nil {
		st.ID = *s.ID
	}
	if s.Timestamp != nil {
		st.Timestamp = s.Timestamp.UTC()
	}
	if s.Name != nil && *s.Name != "" {
		st.Name = *s.Name
	} else {
		st.Name = s.Type.DefaultName()
	}
	if st.Type == StateScheduled && st.StateDetails.ScheduledTime == nil {
		t := st.Timestamp
		st.StateDetails.ScheduledTime = &t
	}
	return st
}

// SetStateRequest is the body of POST /flow_runs/{id}/set_state and
// /task_runs/{id}/set_state.
type SetStateRequest struct {
	State StateCreate `json:"state"`
	Force bool        `json:"force"`
}

// EmbeddedBody marks SetStateRequest as FastAPI's body of several parameters.
func (SetStateRequest) EmbeddedBody() {}

// OrchestrationStatus is the verdict of the state-transition rules.
type OrchestrationStatus string

const (
	StatusAccept OrchestrationStatus = "ACCEPT"
	StatusReject OrchestrationStatus = "REJECT"
	StatusWait   OrchestrationStatus = "WAIT"
	StatusAbort  OrchestrationStatus = "ABORT"
)

// OrchestrationDetails explains a verdict; its shape follows the status.
type OrchestrationDetails struct {
	Type         string  `json:"type"`
	Reason       *string `json:"reason,omitempty"`
	DelaySeconds *int    `json:"delay_seconds,omitempty"`
}

// OrchestrationResult is the response of set_state.
type OrchestrationResult struct {
	State   *State               `json:"state"`
	Status  OrchestrationStatus  `json:"status"`
	Details OrchestrationDetails `json:"details"`
}
