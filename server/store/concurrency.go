package store

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// ConcurrencyLimits are Prefect's global (v2) concurrency limits and the
// leases that hold their slots, all in the database so that every replica
// sees the same counts. Slot counts change only in write transactions that
// lock the limits' rows in id order and update them with a conditional
// UPDATE, so concurrent acquisitions, on one replica or several, never take
// more slots than a limit has.
type ConcurrencyLimits interface {
	// CreateConcurrencyLimit inserts a limit; a taken name is a *schema.ConflictError.
	CreateConcurrencyLimit(ctx context.Context, c schema.ConcurrencyLimitV2Create) (schema.ConcurrencyLimitV2, error)
	// UpsertConcurrencyLimit sets the limit of the limit named name, creating
	// it active if there is none; created says which (the v1 tag routes).
	UpsertConcurrencyLimit(ctx context.Context, name string, limit int) (l schema.ConcurrencyLimitV2, created bool, err error)
	// ReadConcurrencyLimit returns one limit, its active slots after decay.
	ReadConcurrencyLimit(ctx context.Context, ref LimitRef) (schema.ConcurrencyLimitV2, error)
	// ReadConcurrencyLimitsByName returns the limits with these names that
	// exist, sorted by name.
	ReadConcurrencyLimitsByName(ctx context.Context, names []string) ([]schema.ConcurrencyLimitV2, error)
	// FilterConcurrencyLimits returns limits sorted by name.
	FilterConcurrencyLimits(ctx context.Context, q ConcurrencyLimitQuery) ([]schema.ConcurrencyLimitV2, error)
	// UpdateConcurrencyLimit changes the fields u sets.
	UpdateConcurrencyLimit(ctx context.Context, ref LimitRef, u schema.ConcurrencyLimitV2Update) error
	// DeleteConcurrencyLimit deletes a limit. Leases that held its slots
	// keep holding the slots of their other limits.
	DeleteConcurrencyLimit(ctx context.Context, ref LimitRef) error

	// AcquireConcurrencySlots takes a.Slots slots from every active limit
	// named in a.Names, all or none, and with a.Lease records a lease that
	// holds them. Names without a limit are skipped. A limit smaller than
	// the request is a *SlotsOverLimitError; rate_limit mode on a limit
	// without decay is a *RateLimitWithoutDecayError. When the slots are not
	// free, nothing is taken, the limits' denied slots grow, and the result
	// says Acquired false.
	AcquireConcurrencySlots(ctx context.Context, a SlotAcquisition) (SlotAcquisitionResult, error)
	// ReleaseConcurrencySlots gives back slots to the active limits named,
	// folding occupancy (seconds, when given) into their average occupancy,
	// and returns the limits named that exist.
	ReleaseConcurrencySlots(ctx context.Context, r SlotRelease) ([]schema.ConcurrencyLimitV2, error)

	// RenewConcurrencyLease moves an unexpired lease's expiration to now
	// plus ttl; a lease that is gone or expired is schema.ErrNotFound.
	RenewConcurrencyLease(ctx context.Context, id uuid.UUID, ttl time.Duration) error
	// ReleaseConcurrencyLease deletes a lease, expired or not, and gives its
	// slots back; released is false when there was no such lease.
	ReleaseConcurrencyLease(ctx context.Context, id uuid.UUID, waits SlotWaits) (released bool, err error)
	// ReleaseConcurrencyLeasesOfHolder releases every lease of holderID on
	// any of limitIDs and says how many it released.
	ReleaseConcurrencyLeasesOfHolder(ctx context.Context, limitIDs []uuid.UUID, holderID uuid.UUID, waits SlotWaits) (int, error)
	// ReclaimExpiredConcurrencyLeases releases up to max leases that have
	// expired and says how many it released (the repossessor).
	ReclaimExpiredConcurrencyLeases(ctx context.Context, max int, waits SlotWaits) (int, error)
	// ReadConcurrencyLease returns one lease, expired or not.
	ReadConcurrencyLease(ctx context.Context, id uuid.UUID) (ConcurrencyLease, error)
	// ConcurrencyLeaseHolders lists, per limit, the holders of its unexpired
	// leases, oldest first.
	ConcurrencyLeaseHolders(ctx context.Context, limitIDs []uuid.UUID) (map[uuid.UUID][]schema.ConcurrencyLeaseHolder, error)
	// ResetConcurrencyLimit drops every lease's hold on the limit (a lease
	// left holding nothing is deleted) and sets its active slots to one per
	// holder, each held by a new lease of ttl.
	ResetConcurrencyLimit(ctx context.Context, id uuid.UUID, holders []schema.ConcurrencyLeaseHolder, ttl time.Duration) error
}

// LimitRef names a limit by ID or, when ID is uuid.Nil, by Name.
type LimitRef struct {
	ID   uuid.UUID
	Name string
}

// LimitByID refers to a limit by id.
func LimitByID(id uuid.UUID) LimitRef { return LimitRef{ID: id} }

// LimitByName refers to a limit by name.
func LimitByName(name string) LimitRef { return LimitRef{Name: name} }

// ConcurrencyLimitQuery selects limits.
type ConcurrencyLimitQuery struct {
	// NamePrefix keeps the limits whose name starts with it ("tag:" for the
	// v1 routes).
	NamePrefix string
	schema.Page
}

// SlotWaits are the caps, in seconds, on how long a client is told to wait
// for a slot: Tag for the "tag:" limits (PREFECT_SERVER_TASKS_TAG_CONCURRENCY_SLOT_WAIT_SECONDS),
// Max for the others (PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS).
// They also set how fast a concurrency limit's denied slots decay.
type SlotWaits struct {
	Tag float64
	Max float64
}

// For returns the cap for the limit named name.
func (w SlotWaits) For(name string) float64 {
	if strings.HasPrefix(name, schema.TagLimitPrefix) {
		return w.Tag
	}
	return w.Max
}

// SlotAcquisition asks for slots.
type SlotAcquisition struct {
	Names []string
	Slots int
	Mode  string // schema.ModeConcurrency or schema.ModeRateLimit
	// Lease, when set, records a lease holding the slots taken.
	Lease *LeaseSpec
	Waits SlotWaits
}

// LeaseSpec describes the lease to record.
type LeaseSpec struct {
	TTL    time.Duration
	Holder *schema.ConcurrencyLeaseHolder
}

// SlotAcquisitionResult is the outcome of AcquireConcurrencySlots.
type SlotAcquisitionResult struct {
	// Limits are the limits named that exist, active or not, sorted by name,
	// with their slot counts (after decay) as found, before this request.
	Limits []schema.ConcurrencyLimitV2
	// Acquired says whether the slots were taken.
	Acquired bool
	// LeaseID is the lease recorded when a lease was asked for and slots
	// were acquired. When no limit was named, no lease is stored and LeaseID
	// is a fresh id that names nothing.
	LeaseID uuid.UUID
}

// SlotRelease gives slots back by limit name.
type SlotRelease struct {
	Names            []string
	Slots            int
	OccupancySeconds *float64
	Waits            SlotWaits
}

// ConcurrencyLease is a record of slots held until Expiration.
type ConcurrencyLease struct {
	ID         uuid.UUID
	Created    time.Time
	Expiration time.Time
	Slots      int
	Holder     *schema.ConcurrencyLeaseHolder
	// LimitIDs are the limits whose slots the lease holds.
	LimitIDs []uuid.UUID
}

// SlotsOverLimitError says a limit is smaller than the slots requested.
type SlotsOverLimitError struct {
	Name  string
	Limit int
}

func (e *SlotsOverLimitError) Error() string { return "Slots requested is greater than the limit" }

// RateLimitWithoutDecayError says rate_limit mode named limits without decay.
type RateLimitWithoutDecayError struct{ Names []string }

func (e *RateLimitWithoutDecayError) Error() string {
	return "Only concurrency limits with slot decay can be used for rate limiting. " +
		"The following limits do not have a decay configured: '" + strings.Join(e.Names, ",") + "'"
}
