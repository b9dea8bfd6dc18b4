package store

import (
	"context"
	"encoding/json"
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

// AutomationBucket counts the events of one event trigger for one value of
// its for_each labels (Key) over the window [Start, End), keeping the last
// event counted: Prefect's automation_bucket.
type AutomationBucket struct {
	AutomationID  uuid.UUID
	TriggerID     uuid.UUID
	Key           []string
	Start, End    time.Time
	Count         int
	LastEvent     *schema.Event
	LastOperation string
}

// BucketChange is a bucket to keep (Next) or to delete (Next nil) for Key.
type BucketChange struct {
	Key  []string
	Next *AutomationBucket
}

// AutomationState is what evaluating automations keeps between events, so
// a restart or a new leader carries on where the last one stopped. Each
// method runs in one transaction holding the automation's row, so two
// evaluators never interleave on one automation; fn decides (it must only
// compute) and the store writes what it decided. ErrNotFound: the
// automation is gone.
type AutomationState interface {
	// UpdateBucket hands fn the trigger's bucket for key (nil: none) and
	// keeps what it returns (nil deletes it).
	UpdateBucket(ctx context.Context, automationID, triggerID uuid.UUID, key []string,
		fn func(*AutomationBucket) (*AutomationBucket, error)) error
	// UpdateTriggerBuckets hands fn all the trigger's buckets and makes the
	// changes it returns, in order.
	UpdateTriggerBuckets(ctx context.Context, automationID, triggerID uuid.UUID,
		fn func([]AutomationBucket) ([]BucketChange, error)) error
	// SweepBuckets deletes the buckets whose window ended before the time.
	SweepBuckets(ctx context.Context, endedBefore time.Time) (int, error)
	// RecordChildFiring keeps f as its child's latest firing for the
	// composite trigger, after dropping the composite's child firings from
	// before notBefore (when set). If f is still among the composite's
	// firings and ready says they fire it, they are deleted and returned:
	// the caller fires the composite with them.
	RecordChildFiring(ctx context.Context, f ChildFiring, notBefore *time.Time,
		ready func([]ChildFiring) bool) ([]ChildFiring, error)
}

// ChildFiring is a firing of a composite trigger's child, kept until the
// composite fires or the firing falls out of its window.
type ChildFiring struct {
	AutomationID    uuid.UUID
	ParentTriggerID uuid.UUID
	ChildTriggerID  uuid.UUID
	FiringID        uuid.UUID
	FiredAt         time.Time
	// Firing is the child's firing as the automations package writes it.
	Firing json.RawMessage
}
