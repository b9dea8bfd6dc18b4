package schema

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Flow is a named flow; runs point at it.
type Flow struct {
	ID      uuid.UUID       `json:"id"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	Name    string          `json:"name"`
	Tags    []string        `json:"tags"`
	Labels  json.RawMessage `json:"labels"`
}

// FlowCreate is the body of POST /flows/ (an upsert by name).
type FlowCreate struct {
	Name   string          `json:"name"`
	Tags   []string        `json:"tags"`
	Labels json.RawMessage `json:"labels"`
}

// Validate checks the body and fills defaults.
func (f *FlowCreate) Validate() error {
	if f.Name == "" {
		return Invalid("name", "Field required")
	}
	if err := validateName("name", f.Name); err != nil {
		return err
	}
	f.Tags = nonNilTags(f.Tags)
	f.Labels = objectOrEmpty(f.Labels)
	return nil
}

// FlowUpdate is the body of PATCH /flows/{id}.
type FlowUpdate struct {
	Tags   *[]string       `json:"tags"`
	Labels json.RawMessage `json:"labels"`
}
