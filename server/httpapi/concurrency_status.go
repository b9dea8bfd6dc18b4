package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// The concurrency_status routes show who holds a pool's or a queue's
// concurrency slots, counted as the schedulers count them (see
// store.SlotHolders), for an operator asking why runs are not starting.

// defaultFlowRunsPerQueue is how many runs a pool's status lists per queue
// unless asked.
const defaultFlowRunsPerQueue = 10

// pagesOf is how many pages of limit rows n rows fill.
func pagesOf(n, limit int) int {
	if limit <= 0 {
		return 0
	}
	return (n + limit - 1) / limit
}

// slotSummaries adds each run's time in its current state at now.
func slotSummaries(holders []store.SlotHolder, now time.Time) []schema.FlowRunSlotSummary {
	out := make([]schema.FlowRunSlotSummary, len(holders))
	for i, h := range holders {
		out[i] = h.FlowRunSlotSummary
		if h.StateTimestamp != nil {
			secs := now.Sub(*h.StateTimestamp).Seconds()
			out[i].TimeInCurrentState = &secs
		}
	}
	return out
}

// readWorkPoolConcurrencyStatus is POST /work_pools/{name}/concurrency_status:
// the pool's slots in use, and a page of its queues (by priority) each with
// its slots in use and up to flow_run_limit of the runs holding them.
func (a *API) readWorkPoolConcurrencyStatus(r *http.Request, q *schema.ConcurrencyStatusQuery) (response, error) {
	p := schema.Page{Limit: q.Limit}
	page, err := a.pageWindow(&p, q.PageNumber)
	if err != nil {
		return response{}, err
	}
	limit, offset := *p.Limit, p.Offset
	ctx := r.Context()
	pool, err := a.store.ReadWorkPoolByName(ctx, r.PathValue("name"))
	if err != nil {
		return response{}, err
	}
	queues, err := a.store.FilterWorkQueues(ctx, pool.Name, schema.WorkQueueQuery{})
	if err != nil {
		return response{}, err
	}
	counts, err := a.store.CountSlotHolders(ctx, store.SlotHolders{PoolID: &pool.ID})
	if err != nil {
		return response{}, err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	pageQueues := queues[min(offset, len(queues)):min(offset+limit, len(queues))]
	ids := make([]uuid.UUID, len(pageQueues))
	for i, wq := range pageQueues {
		ids[i] = wq.ID
	}
	perQueue := defaultFlowRunsPerQueue
	if q.FlowRunLimit != nil {
		perQueue = *q.FlowRunLimit
	}
	var holders []store.SlotHolder
	if perQueue > 0 && len(ids) > 0 {
		holders, err = a.store.ReadSlotHolders(ctx, store.SlotHolders{PoolID: &pool.ID, QueueIDs: ids, PerQueue: perQueue})
		if err != nil {
			return response{}, err
		}
	}
	byQueue := map[uuid.UUID][]store.SlotHolder{}
	for _, h := range holders {
		if h.QueueID != nil {
			byQueue[*h.QueueID] = append(byQueue[*h.QueueID], h)
		}
	}
	now := a.clock()
	out := schema.WorkPoolConcurrencyStatus{ActiveSlots: total, ConcurrencyLimit: pool.ConcurrencyLimit,
		Queues: []schema.WorkQueueConcurrencyStatusDetail{}, Count: len(queues), Limit: limit, Pages: pagesOf(len(queues), limit), Page: page}
	for _, wq := range pageQueues {
		out.Queues = append(out.Queues, schema.WorkQueueConcurrencyStatusDetail{QueueID: wq.ID, QueueName: wq.Name,
			ActiveSlots: counts[wq.ID], ConcurrencyLimit: wq.ConcurrencyLimit,
			FlowRuns: slotSummaries(byQueue[wq.ID], now), FlowRunCount: counts[wq.ID]})
	}
	return ok(out), nil
}

// readWorkQueueConcurrencyStatus is POST /work_queues/{id}/concurrency_status:
// the queue's slots in use and a page of the runs holding them, by id.
func (a *API) readWorkQueueConcurrencyStatus(r *http.Request, q *schema.ConcurrencyStatusQuery) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	p := schema.Page{Limit: q.Limit}
	page, err := a.pageWindow(&p, q.PageNumber)
	if err != nil {
		return response{}, err
	}
	limit, offset := *p.Limit, p.Offset
	ctx := r.Context()
	wq, err := a.store.ReadWorkQueue(ctx, id)
	if isNotFound(err) {
		return response{}, detail(http.StatusNotFound, "Work queue not found.")
	}
	if err != nil {
		return response{}, err
	}
	sel := store.SlotHolders{QueueID: &id, Offset: offset, Limit: limit}
	counts, err := a.store.CountSlotHolders(ctx, sel)
	if err != nil {
		return response{}, err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	holders, err := a.store.ReadSlotHolders(ctx, sel)
	if err != nil {
		return response{}, err
	}
	return ok(schema.WorkQueueConcurrencyStatus{ActiveSlots: total, ConcurrencyLimit: wq.ConcurrencyLimit,
		FlowRuns: slotSummaries(holders, a.clock()), Count: total, Limit: limit, Pages: pagesOf(total, limit), Page: page}), nil
}
