package schema

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Resource is a set of labels naming something an event is about; the
// label "prefect.resource.id" identifies it and "prefect.resource.role"
// says how a related resource takes part.
type Resource map[string]string

// ID returns the resource's prefect.resource.id label.
func (r Resource) ID() string { return r["prefect.resource.id"] }

// Role returns the resource's prefect.resource.role label.
func (r Resource) Role() string { return r["prefect.resource.role"] }

// Event is something that happened, as clients send it and the server
// records it. Received is set by the server when it accepts the event.
type Event struct {
	ID       uuid.UUID       `json:"id"`
	Occurred time.Time       `json:"occurred"`
	Event    string          `json:"event"`
	Resource Resource        `json:"resource"`
	Related  []Resource      `json:"related"`
	Payload  json.RawMessage `json:"payload"`
	Follows  *uuid.UUID      `json:"follows"`
	Received time.Time       `json:"received"`
}
