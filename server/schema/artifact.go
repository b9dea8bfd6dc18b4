package schema

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Artifact is a piece of run output: a table, markdown, a link, or the
// metadata of a persisted result.
type Artifact struct {
	ID          uuid.UUID       `json:"id"`
	Created     time.Time       `json:"created"`
	Updated     time.Time       `json:"updated"`
	Key         *string         `json:"key"`
	Type        *string         `json:"type"`
	Description *string         `json:"description"`
	Data        json.RawMessage `json:"data"`
	Metadata    json.RawMessage `json:"metadata_"`
	FlowRunID   *uuid.UUID      `json:"flow_run_id"`
	TaskRunID   *uuid.UUID      `json:"task_run_id"`
}

// ArtifactCollection is the latest artifact of a key, as the artifacts page
// and `prefect artifact ls` list them: the latest artifact's fields, with
// its id as latest_id, under an id and created time of the key's own.
type ArtifactCollection struct {
	ID          uuid.UUID       `json:"id"`
	Created     time.Time       `json:"created"`
	Updated     time.Time       `json:"updated"`
	Key         string          `json:"key"`
	LatestID    uuid.UUID       `json:"latest_id"`
	Type        *string         `json:"type"`
	Description *string         `json:"description"`
	Data        json.RawMessage `json:"data"`
	Metadata    json.RawMessage `json:"metadata_"`
	FlowRunID   *uuid.UUID      `json:"flow_run_id"`
	TaskRunID   *uuid.UUID      `json:"task_run_id"`
}

// ArtifactCreate is the body of POST /artifacts/.
type ArtifactCreate struct {
	Key         *string         `json:"key"`
	Type        *string         `json:"type"`
	Description *string         `json:"description"`
	Data        json.RawMessage `json:"data"`
	Metadata    json.RawMessage `json:"metadata_"`
	FlowRunID   *uuid.UUID      `json:"flow_run_id"`
	TaskRunID   *uuid.UUID      `json:"task_run_id"`
}

// Validate checks the body: keys follow Prefect's rule of lower-case letters,
// digits and dashes.
func (a *ArtifactCreate) Validate() error {
	if a.Key != nil {
		for _, r := range *a.Key {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return Invalid("key", "Artifact key must only contain lowercase letters, numbers, and dashes.")
			}
		}
	}
	if len(a.Data) == 0 {
		a.Data = json.RawMessage("null")
	}
	if len(a.Metadata) == 0 {
		a.Metadata = json.RawMessage("null")
	}
	return nil
}

// ArtifactUpdate is the body of PATCH /artifacts/{id}.
type ArtifactUpdate struct {
	Data        json.RawMessage `json:"data"`
	Description *string         `json:"description"`
	Metadata    json.RawMessage `json:"metadata_"`
}
