package schema

import (
	"regexp"
	"time"

	"github.com/google/uuid"
)

// FlowRunInput is a keyed value sent to a flow run: the input a paused run
// waits for, or a message between runs.
type FlowRunInput struct {
	ID        uuid.UUID `json:"id"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	FlowRunID uuid.UUID `json:"flow_run_id"`
	Key       string    `json:"key"`
	Value     string    `json:"value"`
	Sender    *string   `json:"sender"`
}

// FlowRunInputCreate is the body of POST /flow_runs/{id}/input.
type FlowRunInputCreate struct {
	Key    *string `json:"key"`
	Value  *string `json:"value"`
	Sender *string `json:"sender"`
}

// EmbeddedBody: each field is a Body parameter of its own in Prefect.
func (FlowRunInputCreate) EmbeddedBody() {}

var inputKey = regexp.MustCompile(`^[a-z0-9-]*$`)

// Validate requires a key of lowercase letters, digits and dashes, and a value.
func (c *FlowRunInputCreate) Validate() error {
	switch {
	case c.Key == nil:
		return Invalid("key", "Field required")
	case c.Value == nil:
		return Invalid("value", "Field required")
	case !inputKey.MatchString(*c.Key):
		return Invalid("key", "Value error, key must only contain lowercase letters, numbers, and dashes.")
	}
	return nil
}

// FlowRunInputQuery is the body of POST /flow_runs/{id}/input/filter.
type FlowRunInputQuery struct {
	Prefix      *string  `json:"prefix"`
	Limit       *int     `json:"limit"`
	ExcludeKeys []string `json:"exclude_keys"`
}

// EmbeddedBody: each field is a Body parameter of its own in Prefect.
func (FlowRunInputQuery) EmbeddedBody() {}

// Validate requires the prefix and defaults the limit to 1, as Prefect.
func (q *FlowRunInputQuery) Validate() error {
	if q.Prefix == nil {
		return Invalid("prefix", "Field required")
	}
	if q.Limit == nil {
		one := 1
		q.Limit = &one
	}
	if *q.Limit < 0 {
		return Invalid("limit", "Input should be greater than or equal to 0")
	}
	return nil
}

// ResumeRequest is the body of POST /flow_runs/{id}/resume.
type ResumeRequest struct {
	RunInput map[string]any `json:"run_input"`
}

// EmbeddedBody: run_input is embedded, and the body may be empty.
func (ResumeRequest) EmbeddedBody() {}
