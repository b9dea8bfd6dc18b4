package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Automations are kept as the API checked them, with the resources each is
// related to: those its actions name (the deployments it runs) and the one
// that owns it. Nothing evaluates their triggers yet.
type Automations interface {
	// CreateAutomation stores a, owned by owner when it is not empty.
	CreateAutomation(ctx context.Context, a schema.Automation, owner string) (schema.Automation, error)
	ReadAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error)
	// ReplaceAutomation replaces all but the id and created time (PUT) and
	// relates the automation to the deployments its actions now name.
	ReplaceAutomation(ctx context.Context, id uuid.UUID, a schema.Automation) (schema.Automation, error)
	SetAutomationEnabled(ctx context.Context, id uuid.UUID, enabled bool) (schema.Automation, error)
	// DeleteAutomation deletes one and returns what it was.
	DeleteAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error)
	FilterAutomations(ctx context.Context, q schema.AutomationQuery) ([]schema.Automation, error)
	CountAutomations(ctx context.Context, f *schema.AutomationFilter) (int, error)
	// AutomationsRelatedTo lists the automations related to a resource id
	// ("prefect.deployment.<id>"), owned by it or not.
	AutomationsRelatedTo(ctx context.Context, resourceID string) ([]schema.Automation, error)
	// DeleteAutomationsOwnedBy deletes the automations the resource owns that
	// were created before before, and returns them.
	DeleteAutomationsOwnedBy(ctx context.Context, resourceID string, before time.Time) ([]schema.Automation, error)
}
