package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// The v1 tag concurrency routes (/concurrency_limits), as Prefect 3 serves
// them: a limit on tag T is the global limit named "tag:T", and a task run
// holds a slot through a lease whose holder is the task run.

// v1LeaseTTL is the lease of a slot taken through the v1 routes, whose
// clients never renew: Prefect's "~100 years".
const v1LeaseTTL = 100 * 365 * 24 * time.Hour

var tagLimitNotFound = detail(http.StatusNotFound, "Concurrency limit not found")

func tagLimitOrNotFound(err error) error {
	if errors.Is(err, schema.ErrNotFound) {
		return tagLimitNotFound
	}
	return err
}

// tagLimitName is the name of the global limit behind tag's limit; ok is
// false for a tag no limit can have.
func tagLimitName(tag string) (string, bool) {
	return schema.TagLimitPrefix + tag, schema.ValidateLimitName("tag", tag) == nil
}

// v1Limits turns tag limits into the v1 shape, listing the task runs that
// hold their slots.
func (a *API) v1Limits(ctx context.Context, ls []schema.ConcurrencyLimitV2) ([]schema.ConcurrencyLimitV1, error) {
	ids := make([]uuid.UUID, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	holders, err := a.store.ConcurrencyLeaseHolders(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]schema.ConcurrencyLimitV1, len(ls))
	for i, l := range ls {
		runs := []uuid.UUID{}
		for _, h := range holders[l.ID] {
			if h.Type == "task_run" {
				runs = append(runs, h.ID)
			}
		}
		out[i] = schema.ConcurrencyLimitV1{ID: l.ID, Created: l.Created, Updated: l.Updated,
			Tag: strings.TrimPrefix(l.Name, schema.TagLimitPrefix), ConcurrencyLimit: l.Limit, ActiveSlots: runs}
	}
	return out, nil
}

func (a *API) v1Limit(ctx context.Context, l schema.ConcurrencyLimitV2) (schema.ConcurrencyLimitV1, error) {
	out, err := a.v1Limits(ctx, []schema.ConcurrencyLimitV2{l})
	if err != nil {
		return schema.ConcurrencyLimitV1{}, err
	}
	return out[0], nil
}

// createTagLimit creates or updates the limit on a tag: 201 or 200.
func (a *API) createTagLimit(r *http.Request, req *schema.ConcurrencyLimitV1Create) (response, error) {
	l, isNew, err := a.store.UpsertConcurrencyLimit(r.Context(), schema.TagLimitPrefix+*req.Tag, *req.ConcurrencyLimit)
	if err != nil {
		return response{}, err
	}
	v1, err := a.v1Limit(r.Context(), l)
	return createdOr(isNew, v1), err
}

func (a *API) readTagLimit(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	l, err := a.store.ReadConcurrencyLimit(r.Context(), store.LimitByID(id))
	if err == nil && !strings.HasPrefix(l.Name, schema.TagLimitPrefix) {
		err = schema.ErrNotFound
	}
	if err != nil {
		return response{}, tagLimitOrNotFound(err)
	}
	v1, err := a.v1Limit(r.Context(), l)
	return ok(v1), err
}

func (a *API) readTagLimitByTag(r *http.Request, _ *none) (response, error) {
	name, valid := tagLimitName(r.PathValue("tag"))
	if !valid {
		return response{}, tagLimitNotFound
	}
	l, err := a.store.ReadConcurrencyLimit(r.Context(), store.LimitByName(name))
	if err != nil {
		return response{}, tagLimitOrNotFound(err)
	}
	v1, err := a.v1Limit(r.Context(), l)
	return ok(v1), err
}

func (a *API) filterTagLimits(r *http.Request, q *schema.Page) (response, error) {
	if err := a.checkPage(q); err != nil {
		return response{}, err
	}
	ls, err := a.store.FilterConcurrencyLimits(r.Context(), store.ConcurrencyLimitQuery{NamePrefix: schema.TagLimitPrefix, Page: *q})
	if err != nil {
		return response{}, err
	}
	v1, err := a.v1Limits(r.Context(), ls)
	return ok(v1), err
}

// resetTagLimit frees every slot of the tag's limit, then gives one to each
// task run in slot_override.
func (a *API) resetTagLimit(r *http.Request, req *schema.ConcurrencyV1Reset) (response, error) {
	name, valid := tagLimitName(r.PathValue("tag"))
	if !valid {
		return response{}, tagLimitNotFound
	}
	l, err := a.store.ReadConcurrencyLimit(r.Context(), store.LimitByName(name))
	if err != nil {
		return response{}, tagLimitOrNotFound(err)
	}
	holders := make([]schema.ConcurrencyLeaseHolder, len(req.SlotOverride))
	for i, id := range req.SlotOverride {
		holders[i] = schema.ConcurrencyLeaseHolder{Type: "task_run", ID: id}
	}
	return ok(jsonNull), tagLimitOrNotFound(a.store.ResetConcurrencyLimit(r.Context(), l.ID, holders, v1LeaseTTL))
}

func (a *API) deleteTagLimit(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return ok(jsonNull), tagLimitOrNotFound(a.store.DeleteConcurrencyLimit(r.Context(), store.LimitByID(id)))
}

func (a *API) deleteTagLimitByTag(r *http.Request, _ *none) (response, error) {
	name, valid := tagLimitName(r.PathValue("tag"))
	if !valid {
		return response{}, tagLimitNotFound
	}
	return ok(jsonNull), tagLimitOrNotFound(a.store.DeleteConcurrencyLimit(r.Context(), store.LimitByName(name)))
}

// incrementTagSlots takes one slot of each active tag limit for a task run
// (prefect.concurrency.v1), all or none. A limit of 0 is a 423 without
// Retry-After, which tells the client to abort rather than wait.
func (a *API) incrementTagSlots(r *http.Request, req *schema.ConcurrencyV1SlotsRequest) (response, error) {
	names := make([]string, len(req.Names))
	for i, tag := range req.Names {
		names[i] = schema.TagLimitPrefix + tag
	}
	ls, err := a.store.ReadConcurrencyLimitsByName(r.Context(), names)
	if err != nil {
		return response{}, err
	}
	byName := map[string]schema.ConcurrencyLimitV2{}
	for _, l := range ls {
		byName[l.Name] = l
	}
	var active []string
	for _, name := range dedupeNames(names) {
		l, found := byName[name]
		if found && l.Limit == 0 {
			return response{}, zeroTagLimit(name)
		}
		if found && l.Active {
			active = append(active, name)
		}
	}
	out := []schema.MinimalConcurrencyLimit{}
	if len(active) == 0 {
		return ok(out), nil
	}
	res, err := a.store.AcquireConcurrencySlots(r.Context(), store.SlotAcquisition{Names: active, Slots: 1, Mode: schema.ModeConcurrency,
		Lease: &store.LeaseSpec{TTL: v1LeaseTTL, Holder: &schema.ConcurrencyLeaseHolder{Type: "task_run", ID: *req.TaskRunID}},
		Waits: a.slotWaits()})
	var over *store.SlotsOverLimitError
	if errors.As(err, &over) {
		return response{}, zeroTagLimit(over.Name)
	}
	if err != nil {
		return response{}, err
	}
	acquired := map[string]schema.ConcurrencyLimitV2{}
	for _, l := range res.Limits {
		acquired[l.Name] = l
	}
	if !res.Acquired {
		full := active[0]
		for _, name := range active {
			if l := acquired[name]; l.Active && l.ActiveSlots+1 > l.Limit {
				full = name
				break
			}
		}
		return response{}, &apiError{Status: http.StatusLocked,
			Body:   map[string]string{"detail": "Concurrency limit for the " + strings.TrimPrefix(full, schema.TagLimitPrefix) + " tag has been reached"},
			Header: http.Header{"Retry-After": {strconv.FormatFloat(a.settings.Tasks.TagConcurrencySlotWaitSeconds, 'f', -1, 64)}}}
	}
	for _, name := range active {
		if l, found := acquired[name]; found && l.Active {
			out = append(out, schema.MinimalConcurrencyLimit{ID: l.ID, Name: strings.TrimPrefix(name, schema.TagLimitPrefix), Limit: l.Limit})
		}
	}
	return ok(out), nil
}

func zeroTagLimit(name string) error {
	return detail(http.StatusLocked, `The concurrency limit on tag "`+strings.TrimPrefix(name, schema.TagLimitPrefix)+
		`" is 0 and will deadlock if the task tries to run again.`)
}

// decrementTagSlots releases the task run's leases on the tags' limits.
func (a *API) decrementTagSlots(r *http.Request, req *schema.ConcurrencyV1SlotsRequest) (response, error) {
	names := make([]string, len(req.Names))
	for i, tag := range req.Names {
		names[i] = schema.TagLimitPrefix + tag
	}
	ls, err := a.store.ReadConcurrencyLimitsByName(r.Context(), names)
	if err != nil {
		return response{}, err
	}
	ids := make([]uuid.UUID, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	if _, err := a.store.ReleaseConcurrencyLeasesOfHolder(r.Context(), ids, *req.TaskRunID, a.slotWaits()); err != nil {
		return response{}, err
	}
	return ok(minimalLimits(ls)), nil
}

func dedupeNames(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
