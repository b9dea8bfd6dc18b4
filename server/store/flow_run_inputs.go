package store

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// FlowRunInputs are the keyed values sent to flow runs. A resume stores its
// run input with the state it writes (runs.Store.SetFlowRunState); these are
// the routes' own reads and writes.
type FlowRunInputs interface {
	// CreateFlowRunInput stores in; a ConflictError when the run has the key
	// already, ErrNotFound when there is no such run.
	CreateFlowRunInput(ctx context.Context, in schema.FlowRunInput) error
	ReadFlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) (schema.FlowRunInput, error)
	// FilterFlowRunInputs lists a run's inputs whose key starts with prefix,
	// but not those in exclude, oldest first, at most limit.
	FilterFlowRunInputs(ctx context.Context, flowRunID uuid.UUID, prefix string, exclude []string, limit int) ([]schema.FlowRunInput, error)
	DeleteFlowRunInput(ctx context.Context, flowRunID uuid.UUID, key string) error
}
