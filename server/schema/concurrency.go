package schema

import (
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Concurrency limits: Prefect's global (v2) limits, whose slots are taken
// with or without a lease, and the v1 tag limits, which Prefect 3 keeps as
// the v2 limit named "tag:<tag>".

// TagLimitPrefix starts the name of the v2 limit behind a v1 tag limit.
const TagLimitPrefix = "tag:"

// Slot acquisition modes.
const (
	ModeConcurrency = "concurrency"
	ModeRateLimit   = "rate_limit"
)

// Lease durations accepted by increment-with-lease and renew, in seconds.
const (
	MinLeaseDurationSeconds     = 60
	MaxLeaseDurationSeconds     = 60 * 60 * 24
	DefaultLeaseDurationSeconds = 300
)

var limitNameChars = regexp.MustCompile(`^[^/%&><]+$`)

// ConcurrencyLimitV2 is a global concurrency limit. ActiveSlots is, on
// reads, the count after rate-limit decay.
type ConcurrencyLimitV2 struct {
	ID                      uuid.UUID `json:"id"`
	Created                 time.Time `json:"created"`
	Updated                 time.Time `json:"updated"`
	Active                  bool      `json:"active"`
	Name                    string    `json:"name"`
	Limit                   int       `json:"limit"`
	ActiveSlots             int       `json:"active_slots"`
	DeniedSlots             int       `json:"denied_slots"`
	SlotDecayPerSecond      float64   `json:"slot_decay_per_second"`
	AvgSlotOccupancySeconds float64   `json:"avg_slot_occupancy_seconds"`
}

// ConcurrencyLimitV2Create is the body of POST /v2/concurrency_limits/.
type ConcurrencyLimitV2Create struct {
	Active             *bool   `json:"active"`
	Name               *string `json:"name"`
	Limit              *int    `json:"limit"`
	ActiveSlots        int     `json:"active_slots"`
	DeniedSlots        int     `json:"denied_slots"`
	SlotDecayPerSecond float64 `json:"slot_decay_per_second"`
}

// Validate checks the body and fills defaults (active).
func (c *ConcurrencyLimitV2Create) Validate() error {
	if c.Name == nil {
		return Invalid("name", "Field required")
	}
	if err := validateLimitName("name", *c.Name); err != nil {
		return err
	}
	if c.Limit == nil {
		return Invalid("limit", "Field required")
	}
	if err := limitNonNegative("limit", float64(*c.Limit)); err != nil {
		return err
	}
	if err := limitNonNegative("active_slots", float64(c.ActiveSlots)); err != nil {
		return err
	}
	if err := limitNonNegative("denied_slots", float64(c.DeniedSlots)); err != nil {
		return err
	}
	if err := limitNonNegative("slot_decay_per_second", c.SlotDecayPerSecond); err != nil {
		return err
	}
	if c.Active == nil {
		active := true
		c.Active = &active
	}
	return nil
}

// ConcurrencyLimitV2Update is the body of PATCH /v2/concurrency_limits/{id_or_name}:
// the fields present (and not null) are changed.
type ConcurrencyLimitV2Update struct {
	Active             *bool    `json:"active"`
	Name               *string  `json:"name"`
	Limit              *int     `json:"limit"`
	ActiveSlots        *int     `json:"active_slots"`
	DeniedSlots        *int     `json:"denied_slots"`
	SlotDecayPerSecond *float64 `json:"slot_decay_per_second"`
}

// Validate checks the fields that are set.
func (u *ConcurrencyLimitV2Update) Validate() error {
	if u.Name != nil {
		if err := validateLimitName("name", *u.Name); err != nil {
			return err
		}
	}
	for loc, v := range map[string]*int{"limit": u.Limit, "active_slots": u.ActiveSlots, "denied_slots": u.DeniedSlots} {
		if v != nil {
			if err := limitNonNegative(loc, float64(*v)); err != nil {
				return err
			}
		}
	}
	if u.SlotDecayPerSecond != nil {
		return limitNonNegative("slot_decay_per_second", *u.SlotDecayPerSecond)
	}
	return nil
}

// ConcurrencyLeaseHolder says who holds a lease.
type ConcurrencyLeaseHolder struct {
	Type string    `json:"type"`
	ID   uuid.UUID `json:"id"`
}

// Validate checks the holder type.
func (h *ConcurrencyLeaseHolder) Validate(loc string) error {
	switch h.Type {
	case "flow_run", "task_run", "deployment":
		return nil
	case "":
		return Invalid(loc+".type", "Field required")
	}
	return Invalid(loc+".type", "Input should be 'flow_run', 'task_run' or 'deployment'")
}

// ConcurrencySlotsRequest is the body of POST /v2/concurrency_limits/increment.
type ConcurrencySlotsRequest struct {
	Names []string `json:"names"`
	Slots *int     `json:"slots"`
	Mode  string   `json:"mode"`
	// CreateIfMissing is deprecated in Prefect 3 and ignored: limits must be
	// created before slots are taken from them.
	CreateIfMissing *bool `json:"create_if_missing"`
}

// EmbeddedBody marks ConcurrencySlotsRequest as FastAPI's body of several parameters.
func (ConcurrencySlotsRequest) EmbeddedBody() {}

// Validate checks names, slots and mode, defaulting the mode.
func (r *ConcurrencySlotsRequest) Validate() error {
	if r.Names == nil {
		return Invalid("names", "Field required")
	}
	if len(r.Names) == 0 {
		return Invalid("names", "List should have at least 1 item after validation, not 0")
	}
	if err := validateTagsText("names", r.Names); err != nil {
		return err
	}
	if r.Slots == nil {
		return Invalid("slots", "Field required")
	}
	if *r.Slots <= 0 {
		return Invalid("slots", "Input should be greater than 0")
	}
	switch r.Mode {
	case "":
		r.Mode = ModeConcurrency
	case ModeConcurrency, ModeRateLimit:
	default:
		return Invalid("mode", "Input should be 'concurrency' or 'rate_limit'")
	}
	return nil
}

// ConcurrencySlotsWithLeaseRequest is the body of
// POST /v2/concurrency_limits/increment-with-lease.
type ConcurrencySlotsWithLeaseRequest struct {
	ConcurrencySlotsRequest
	LeaseDuration *float64                `json:"lease_duration"`
	Holder        *ConcurrencyLeaseHolder `json:"holder"`
}

// EmbeddedBody marks ConcurrencySlotsWithLeaseRequest as FastAPI's body of several parameters.
func (ConcurrencySlotsWithLeaseRequest) EmbeddedBody() {}

// Validate checks the request and defaults the lease duration.
func (r *ConcurrencySlotsWithLeaseRequest) Validate() error {
	if err := r.ConcurrencySlotsRequest.Validate(); err != nil {
		return err
	}
	d, err := leaseDuration("lease_duration", r.LeaseDuration)
	if err != nil {
		return err
	}
	r.LeaseDuration = &d
	if r.Holder != nil {
		return r.Holder.Validate("holder")
	}
	return nil
}

// ConcurrencyDecrementRequest is the body of POST /v2/concurrency_limits/decrement.
type ConcurrencyDecrementRequest struct {
	Names            []string `json:"names"`
	Slots            *int     `json:"slots"`
	OccupancySeconds *float64 `json:"occupancy_seconds"`
	CreateIfMissing  *bool    `json:"create_if_missing"`
}

// EmbeddedBody marks ConcurrencyDecrementRequest as FastAPI's body of several parameters.
func (ConcurrencyDecrementRequest) EmbeddedBody() {}

// Validate checks names, slots and occupancy.
func (r *ConcurrencyDecrementRequest) Validate() error {
	if err := (&ConcurrencySlotsRequest{Names: r.Names, Slots: r.Slots}).Validate(); err != nil {
		return err
	}
	if r.OccupancySeconds != nil && *r.OccupancySeconds <= 0 {
		return Invalid("occupancy_seconds", "Input should be greater than 0")
	}
	return nil
}

// LeaseRef is the body of POST /v2/concurrency_limits/decrement-with-lease.
type LeaseRef struct {
	LeaseID *uuid.UUID `json:"lease_id"`
}

// EmbeddedBody marks LeaseRef as FastAPI's body of several parameters.
func (LeaseRef) EmbeddedBody() {}

// Validate requires the lease id.
func (r *LeaseRef) Validate() error {
	if r.LeaseID == nil {
		return Invalid("lease_id", "Field required")
	}
	return nil
}

// LeaseRenewal is the body of POST /v2/concurrency_limits/leases/{id}/renew.
type LeaseRenewal struct {
	LeaseDuration *float64 `json:"lease_duration"`
}

// EmbeddedBody marks LeaseRenewal as FastAPI's body of several parameters.
func (LeaseRenewal) EmbeddedBody() {}

// Validate checks and defaults the duration.
func (r *LeaseRenewal) Validate() error {
	d, err := leaseDuration("lease_duration", r.LeaseDuration)
	r.LeaseDuration = &d
	return err
}

// MinimalConcurrencyLimit is how slot operations name the limits they used.
type MinimalConcurrencyLimit struct {
	ID    uuid.UUID `json:"id"`
	Name  string    `json:"name"`
	Limit int       `json:"limit"`
}

// ConcurrencyLimitWithLease answers increment-with-lease.
type ConcurrencyLimitWithLease struct {
	LeaseID uuid.UUID                 `json:"lease_id"`
	Limits  []MinimalConcurrencyLimit `json:"limits"`
}

// ConcurrencyLimitV1 is a tag limit in the v1 shape. ActiveSlots lists the
// task runs holding a slot.
type ConcurrencyLimitV1 struct {
	ID               uuid.UUID   `json:"id"`
	Created          time.Time   `json:"created"`
	Updated          time.Time   `json:"updated"`
	Tag              string      `json:"tag"`
	ConcurrencyLimit int         `json:"concurrency_limit"`
	ActiveSlots      []uuid.UUID `json:"active_slots"`
}

// ConcurrencyLimitV1Create is the body of POST /concurrency_limits/ (an
// upsert by tag).
type ConcurrencyLimitV1Create struct {
	Tag              *string `json:"tag"`
	ConcurrencyLimit *int    `json:"concurrency_limit"`
}

// Validate requires both fields; the tag becomes part of a v2 limit name,
// so it follows the same rule.
func (c *ConcurrencyLimitV1Create) Validate() error {
	if c.Tag == nil {
		return Invalid("tag", "Field required")
	}
	if err := validateLimitName("tag", *c.Tag); err != nil {
		return err
	}
	if c.ConcurrencyLimit == nil {
		return Invalid("concurrency_limit", "Field required")
	}
	return limitNonNegative("concurrency_limit", float64(*c.ConcurrencyLimit))
}

// ConcurrencyV1SlotsRequest is the body of POST /concurrency_limits/increment
// and /decrement.
type ConcurrencyV1SlotsRequest struct {
	Names            []string   `json:"names"`
	TaskRunID        *uuid.UUID `json:"task_run_id"`
	OccupancySeconds *float64   `json:"occupancy_seconds"`
}

// EmbeddedBody marks ConcurrencyV1SlotsRequest as FastAPI's body of several parameters.
func (ConcurrencyV1SlotsRequest) EmbeddedBody() {}

// Validate requires names and the task run.
func (r *ConcurrencyV1SlotsRequest) Validate() error {
	if r.Names == nil {
		return Invalid("names", "Field required")
	}
	if r.TaskRunID == nil {
		return Invalid("task_run_id", "Field required")
	}
	return validateTagsText("names", r.Names)
}

// ConcurrencyV1Reset is the body of POST /concurrency_limits/tag/{tag}/reset.
type ConcurrencyV1Reset struct {
	SlotOverride []uuid.UUID `json:"slot_override"`
}

// EmbeddedBody marks ConcurrencyV1Reset as FastAPI's body of several parameters.
func (ConcurrencyV1Reset) EmbeddedBody() {}

// ValidateLimitName applies Prefect's Name type to a limit name given in a
// path: at least one character, none of / % & > <, and no NUL.
func ValidateLimitName(loc, name string) error { return validateLimitName(loc, name) }

func validateLimitName(loc, name string) error {
	if !limitNameChars.MatchString(name) {
		return Invalid(loc, "String should match pattern '^[^/%&><]+$'")
	}
	if strings.ContainsRune(name, 0) {
		return Invalid(loc, "Input should not contain NUL characters")
	}
	return nil
}

func limitNonNegative(loc string, v float64) error {
	if v < 0 {
		return Invalid(loc, "Input should be greater than or equal to 0")
	}
	return nil
}

func leaseDuration(loc string, d *float64) (float64, error) {
	if d == nil {
		return DefaultLeaseDurationSeconds, nil
	}
	switch {
	case *d < MinLeaseDurationSeconds:
		return *d, Invalid(loc, "Input should be greater than or equal to 60")
	case *d > MaxLeaseDurationSeconds:
		return *d, Invalid(loc, "Input should be less than or equal to 86400")
	}
	return *d, nil
}
