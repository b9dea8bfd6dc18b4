package store

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Variables are named JSON values, unique by name.
type Variables interface {
	// CreateVariable inserts a variable; a taken name is a *schema.ConflictError.
	CreateVariable(ctx context.Context, v schema.VariableCreate) (schema.Variable, error)
	ReadVariable(ctx context.Context, id uuid.UUID) (schema.Variable, error)
	ReadVariableByName(ctx context.Context, name string) (schema.Variable, error)
	// FilterVariables returns the variables matching q, by name unless q sorts otherwise.
	FilterVariables(ctx context.Context, q schema.VariableQuery) ([]schema.Variable, error)
	CountVariables(ctx context.Context, q schema.VariableQuery) (int, error)
	// UpdateVariable changes the fields u sets; renaming onto a taken name
	// is a *schema.ConflictError.
	UpdateVariable(ctx context.Context, id uuid.UUID, u schema.VariableUpdate) error
	UpdateVariableByName(ctx context.Context, name string, u schema.VariableUpdate) error
	DeleteVariable(ctx context.Context, id uuid.UUID) error
	DeleteVariableByName(ctx context.Context, name string) error
}
