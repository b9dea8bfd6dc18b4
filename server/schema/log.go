package schema

import (
	"time"

	"github.com/google/uuid"
)

// Log is one log line sent by a run.
type Log struct {
	ID        uuid.UUID  `json:"id"`
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
	Name      string     `json:"name"`
	Level     int        `json:"level"`
	Message   string     `json:"message"`
	Timestamp time.Time  `json:"timestamp"`
	FlowRunID *uuid.UUID `json:"flow_run_id"`
	TaskRunID *uuid.UUID `json:"task_run_id"`
	WorkerID  *uuid.UUID `json:"worker_id"`
}

// LogCreate is one element of the body of POST /logs/.
type LogCreate struct {
	Name      string     `json:"name"`
	Level     int        `json:"level"`
	Message   string     `json:"message"`
	Timestamp *DateTime  `json:"timestamp"`
	FlowRunID *uuid.UUID `json:"flow_run_id"`
	TaskRunID *uuid.UUID `json:"task_run_id"`
	WorkerID  *uuid.UUID `json:"worker_id"`
}

// Validate checks one log line.
func (l *LogCreate) Validate() error {
	if l.Name == "" {
		return Invalid("name", "Field required")
	}
	if l.Timestamp == nil {
		return Invalid("timestamp", "Field required")
	}
	return nil
}
