package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Automations are stored triggers and actions (nothing evaluates or runs
// them yet), each related to the resources it names: the deployments its
// actions run by id and, when it has one, the resource that owns it.
type Automations interface {
	// CreateAutomation stores an automation; a.OwnerResource, when set, owns it.
	CreateAutomation(ctx context.Context, a schema.AutomationCreate) (schema.Automation, error)
	ReadAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error)
	// UpdateAutomation applies a PUT: the fields u sends replace the stored
	// ones, and the deployments the automation runs are related anew (its
	// owner stays).
	UpdateAutomation(ctx context.Context, id uuid.UUID, u schema.AutomationCore) (schema.Automation, error)
	// PatchAutomation applies a PATCH: enabled when p sets it, the updated
	// time in any case. It refuses, with the *schema.ValidationError of
	// schema.CheckRunDeploymentLoops, what that check refuses.
	PatchAutomation(ctx context.Context, id uuid.UUID, p schema.AutomationPartialUpdate) (schema.Automation, error)
	// DeleteAutomation deletes an automation and returns what it was.
	DeleteAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error)
	// FilterAutomations returns the automations matching q, by name unless
	// q sorts otherwise.
	FilterAutomations(ctx context.Context, q schema.AutomationQuery) ([]schema.Automation, error)
	CountAutomations(ctx context.Context, q schema.AutomationQuery) (int, error)
	// ReadAutomationsRelatedTo returns the automations related to a
	// resource id, by name.
	ReadAutomationsRelatedTo(ctx context.Context, resourceID string) ([]schema.Automation, error)
	// DeleteAutomationsOwnedBy deletes the automations a resource owns that
	// were created at or before createdBefore, and returns their ids.
	DeleteAutomationsOwnedBy(ctx context.Context, resourceID string, createdBefore time.Time) ([]uuid.UUID, error)
}
