package httpapi

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// Global concurrency limits (/v2/concurrency_limits), Prefect's
// server/api/concurrency_limits_v2.py over the store's limits and leases.

var limitNotFound = detail(http.StatusNotFound, "Concurrency Limit not found")

func limitOrNotFound(err error) error {
	if errors.Is(err, schema.ErrNotFound) {
		return limitNotFound
	}
	return err
}

// limitRef reads {id_or_name}: a UUID names a limit by id, anything else by
// name, as Prefect's Union[UUID, str] path parameter does. A name no limit
// can have is answered 404 without asking the database.
func limitRef(r *http.Request) (store.LimitRef, error) {
	raw := r.PathValue("id_or_name")
	if id, err := uuid.Parse(raw); err == nil {
		return store.LimitByID(id), nil
	}
	if schema.ValidateLimitName("id_or_name", raw) != nil {
		return store.LimitRef{}, limitNotFound
	}
	return store.LimitByName(raw), nil
}

// slotWaits are the settings that cap Retry-After and drive denied-slot decay.
func (a *API) slotWaits() store.SlotWaits {
	return store.SlotWaits{Tag: a.settings.Tasks.TagConcurrencySlotWaitSeconds, Max: a.settings.Concurrency.MaximumConcurrencySlotWaitSeconds}
}

func (a *API) createConcurrencyLimit(r *http.Request, req *schema.ConcurrencyLimitV2Create) (response, error) {
	l, err := a.store.CreateConcurrencyLimit(r.Context(), *req)
	if err != nil {
		return response{}, err
	}
	return created(l), nil
}

func (a *API) readConcurrencyLimit(r *http.Request, _ *none) (response, error) {
	ref, err := limitRef(r)
	if err != nil {
		return response{}, err
	}
	l, err := a.store.ReadConcurrencyLimit(r.Context(), ref)
	return ok(l), limitOrNotFound(err)
}

func (a *API) filterConcurrencyLimits(r *http.Request, q *schema.Page) (response, error) {
	if err := a.checkPage(q); err != nil {
		return response{}, err
	}
	ls, err := a.store.FilterConcurrencyLimits(r.Context(), store.ConcurrencyLimitQuery{Page: *q})
	return ok(ls), err
}

func (a *API) updateConcurrencyLimit(r *http.Request, u *schema.ConcurrencyLimitV2Update) (response, error) {
	ref, err := limitRef(r)
	if err != nil {
		return response{}, err
	}
	return noContent(), limitOrNotFound(a.store.UpdateConcurrencyLimit(r.Context(), ref, *u))
}

func (a *API) deleteConcurrencyLimit(r *http.Request, _ *none) (response, error) {
	ref, err := limitRef(r)
	if err != nil {
		return response{}, err
	}
	return noContent(), limitOrNotFound(a.store.DeleteConcurrencyLimit(r.Context(), ref))
}

// incrementSlots takes slots without a lease (rate limits, and the older
// concurrency() clients): all or none, 423 with Retry-After when they are
// not free.
func (a *API) incrementSlots(r *http.Request, req *schema.ConcurrencySlotsRequest) (response, error) {
	res, err := a.acquire(r, *req, nil)
	if err != nil {
		return response{}, err
	}
	return ok(minimalLimits(res.Limits)), nil
}

// incrementSlotsWithLease takes slots under a lease the client renews. A
// name without a limit is skipped, so a tagged task with no tag limits
// gets "limits": [] and stops asking.
func (a *API) incrementSlotsWithLease(r *http.Request, req *schema.ConcurrencySlotsWithLeaseRequest) (response, error) {
	res, err := a.acquire(r, req.ConcurrencySlotsRequest, &store.LeaseSpec{TTL: seconds(*req.LeaseDuration), Holder: req.Holder})
	if err != nil {
		return response{}, err
	}
	return ok(schema.ConcurrencyLimitWithLease{LeaseID: res.LeaseID, Limits: minimalLimits(res.Limits)}), nil
}

func (a *API) acquire(r *http.Request, req schema.ConcurrencySlotsRequest, lease *store.LeaseSpec) (store.SlotAcquisitionResult, error) {
	waits := a.slotWaits()
	res, err := a.store.AcquireConcurrencySlots(r.Context(), store.SlotAcquisition{
		Names: req.Names, Slots: *req.Slots, Mode: req.Mode, Lease: lease, Waits: waits})
	var over *store.SlotsOverLimitError
	var noDecay *store.RateLimitWithoutDecayError
	switch {
	case errors.As(err, &over), errors.As(err, &noDecay):
		return res, detail(http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		return res, err
	case !res.Acquired:
		return res, locked(retryAfter(res.Limits, *req.Slots, waits))
	}
	return res, nil
}

// locked is Prefect's 423 for slots that are not free: the body of a bare
// HTTPException(423) and the seconds to wait in Retry-After.
func locked(wait float64) error {
	return &apiError{Status: http.StatusLocked, Body: map[string]string{"detail": "Locked"},
		Header: http.Header{"Retry-After": {strconv.FormatFloat(wait, 'f', -1, 64)}}}
}

// retryAfter is Prefect's _generate_concurrency_locked_response: the wait
// follows the most blocked active limit, one average occupancy (or, for a
// rate limit, one decay interval) per slot asked for and denied before,
// capped at the limit's wait cap, then jittered so that waiting clients do
// not come back together. Unlike Prefect, the jittered wait (and a rate
// limit's) is capped too.
func retryAfter(limits []schema.ConcurrencyLimitV2, slots int, waits store.SlotWaits) float64 {
	blocking := func(l schema.ConcurrencyLimitV2) float64 {
		n := float64(slots) + float64(l.DeniedSlots)
		if l.SlotDecayPerSecond > 0 || l.Limit <= 0 {
			return n
		}
		return n / float64(l.Limit)
	}
	var worst *schema.ConcurrencyLimitV2
	for i := range limits {
		if limits[i].Active && (worst == nil || blocking(limits[i]) > blocking(*worst)) {
			worst = &limits[i]
		}
	}
	if worst == nil {
		return 0
	}
	maxWait := waits.For(worst.Name)
	var average float64
	if worst.SlotDecayPerSecond > 0 {
		average = blocking(*worst) / worst.SlotDecayPerSecond
	} else {
		average = math.Min(worst.AvgSlotOccupancySeconds, maxWait) * blocking(*worst)
	}
	average = math.Min(average, maxWait)
	return math.Min(clampedPoissonInterval(average, 0.3), maxWait)
}

// clampedPoissonInterval is Prefect's jitter (prefect.utilities.math): an
// exponential variate around average, clamped to [~0.75, 1.3] × average.
func clampedPoissonInterval(average, clamping float64) float64 {
	if average <= 0 || math.IsInf(average, 0) || math.IsNaN(average) {
		return 0
	}
	upperMultiple := 1 + clamping
	lowerMultiple := 0.0
	if upperMultiple < 50 {
		lowerMultiple = math.Log2(math.Max(math.Pow(2, upperMultiple)/(math.Pow(2, upperMultiple)-1), 1e-10))
	}
	cdf := func(x float64) float64 { return 1 - math.Exp(-x/average) }
	lower, upper := cdf(average*lowerMultiple), cdf(average*upperMultiple)
	u := lower + rand.Float64()*(upper-lower)
	return -math.Log(math.Max(1-u, 1e-10)) * average
}

// decrementSlots gives slots back by name (rate limits, older clients).
func (a *API) decrementSlots(r *http.Request, req *schema.ConcurrencyDecrementRequest) (response, error) {
	ls, err := a.store.ReleaseConcurrencySlots(r.Context(), store.SlotRelease{
		Names: req.Names, Slots: *req.Slots, OccupancySeconds: req.OccupancySeconds, Waits: a.slotWaits()})
	if err != nil {
		return response{}, err
	}
	return ok(minimalLimits(ls)), nil
}

// decrementSlotsWithLease releases a lease and its slots; an unknown lease
// is not an error.
func (a *API) decrementSlotsWithLease(r *http.Request, req *schema.LeaseRef) (response, error) {
	_, err := a.store.ReleaseConcurrencyLease(r.Context(), *req.LeaseID, a.slotWaits())
	return noContent(), err
}

// renewLease extends a lease; 410 tells the holder its slots are gone.
func (a *API) renewLease(r *http.Request, req *schema.LeaseRenewal) (response, error) {
	id, err := pathID(r, "lease_id")
	if err != nil {
		return response{}, err
	}
	err = a.store.RenewConcurrencyLease(r.Context(), id, seconds(*req.LeaseDuration))
	if errors.Is(err, schema.ErrNotFound) {
		return response{}, detail(http.StatusGone, "Lease not found - it may have expired or been revoked")
	}
	return noContent(), err
}

func minimalLimits(ls []schema.ConcurrencyLimitV2) []schema.MinimalConcurrencyLimit {
	out := make([]schema.MinimalConcurrencyLimit, len(ls))
	for i, l := range ls {
		out[i] = schema.MinimalConcurrencyLimit{ID: l.ID, Name: l.Name, Limit: l.Limit}
	}
	return out
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
