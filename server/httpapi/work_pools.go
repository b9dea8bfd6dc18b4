package httpapi

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// reservedPool reports whether a pool name is reserved for Prefect's own
// pools (any case of "prefect" at the start).
func reservedPool(name string) bool { return strings.HasPrefix(strings.ToLower(name), "prefect") }

func (a *API) createWorkPool(r *http.Request, req *schema.WorkPoolCreate) (response, error) {
	if reservedPool(req.Name) {
		return response{}, detail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use.")
	}
	p, err := a.store.CreateWorkPool(r.Context(), *req)
	if err != nil {
		return response{}, err
	}
	return created(poolForClient(r, p)), nil
}

func (a *API) readWorkPool(r *http.Request, _ *none) (response, error) {
	p, err := a.store.ReadWorkPoolByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return response{}, err
	}
	return ok(poolForClient(r, p)), nil
}

func (a *API) filterWorkPools(r *http.Request, q *schema.WorkPoolQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	pools, err := a.store.FilterWorkPools(r.Context(), *q)
	if err != nil {
		return response{}, err
	}
	out := make([]any, len(pools))
	for i, p := range pools {
		out[i] = poolForClient(r, p)
	}
	return ok(out), nil
}

func (a *API) countWorkPools(r *http.Request, q *schema.WorkPoolQuery) (response, error) {
	n, err := a.store.CountWorkPools(r.Context(), *q)
	return ok(n), err
}

func (a *API) updateWorkPool(r *http.Request, u *schema.WorkPoolUpdate) (response, error) {
	name := r.PathValue("name")
	if reservedPool(name) {
		for _, f := range u.Fields() {
			if f != "is_paused" && f != "concurrency_limit" {
				return response{}, detail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use "+
					"and can only be updated to set concurrency limits or pause.")
			}
		}
	}
	if err := a.store.UpdateWorkPool(r.Context(), name, *u); err != nil {
		return response{}, err
	}
	if a.poolChanges != nil && slices.ContainsFunc(u.Fields(), snapshotField) {
		// The update is done; failing to tell the channels fails nothing
		// (a worker's next heartbeat notices the pool changed).
		if p, err := a.store.ReadWorkPoolByName(r.Context(), name); err == nil {
			a.poolChanges.PoolUpdated(r.Context(), p.ID)
		}
	}
	return noContent(), nil
}

// snapshotField reports whether a pool field is in what the worker channel
// sends workers, so that updating it sends them a fresh snapshot (Prefect's
// WORK_POOL_FIELDS_THAT_TRIGGER_SNAPSHOTS; the description is not).
func snapshotField(f string) bool {
	return f == "base_job_template" || f == "concurrency_limit" || f == "is_paused" || f == "storage_configuration"
}

func (a *API) deleteWorkPool(r *http.Request, _ *none) (response, error) {
	name := r.PathValue("name")
	if reservedPool(name) {
		return response{}, detail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use and can not be deleted.")
	}
	p, err := a.store.ReadWorkPoolByName(r.Context(), name)
	if err != nil {
		return response{}, err
	}
	if err := a.store.DeleteWorkPool(r.Context(), name); err != nil {
		return response{}, err
	}
	if a.poolChanges != nil {
		a.poolChanges.PoolDeleted(r.Context(), p.ID)
	}
	return noContent(), nil
}

// legacyStoragePool is a pool for clients up to 3.3.7, which fail on
// storage_configuration.default_result_storage_block_id.
type legacyStoragePool struct {
	schema.WorkPool
	StorageConfiguration struct {
		BundleUploadStep    any `json:"bundle_upload_step"`
		BundleExecutionStep any `json:"bundle_execution_step"`
	} `json:"storage_configuration"`
}

// poolForClient renders a pool for the requesting client's version.
func poolForClient(r *http.Request, p schema.WorkPool) any {
	v, known := clientVersion(r)
	if !known || compareVersion(v, [3]int{3, 3, 7}) > 0 {
		return p
	}
	out := legacyStoragePool{WorkPool: p}
	out.StorageConfiguration.BundleUploadStep = p.StorageConfiguration.BundleUploadStep
	out.StorageConfiguration.BundleExecutionStep = p.StorageConfiguration.BundleExecutionStep
	return out
}

var userAgentVersion = regexp.MustCompile(`prefect/(\d+)\.(\d+)\.(\d+)`)

// clientVersion reads the Prefect client version from the User-Agent
// ("prefect/3.4.1 (API 0.8.4)"); development suffixes are ignored.
func clientVersion(r *http.Request) ([3]int, bool) {
	m := userAgentVersion.FindStringSubmatch(r.Header.Get("User-Agent"))
	if m == nil {
		return [3]int{}, false
	}
	return parseVersion(m[1] + "." + m[2] + "." + m[3])
}

// --- Queues ---

func (a *API) createWorkQueue(r *http.Request, req *schema.WorkQueueCreate) (response, error) {
	q, err := a.store.CreateWorkQueue(r.Context(), r.PathValue("pool"), *req)
	if err != nil {
		return response{}, err
	}
	return created(q), nil
}

func (a *API) readWorkQueueInPool(r *http.Request, _ *none) (response, error) {
	q, err := a.store.ReadWorkQueueByName(r.Context(), r.PathValue("pool"), r.PathValue("name"))
	if err != nil {
		return response{}, err
	}
	return ok(q), nil
}

func (a *API) filterWorkQueuesInPool(r *http.Request, q *schema.WorkQueueQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	qs, err := a.store.FilterWorkQueues(r.Context(), r.PathValue("pool"), *q)
	return ok(qs), err
}

func (a *API) updateWorkQueueInPool(r *http.Request, u *schema.WorkQueueUpdate) (response, error) {
	q, err := a.store.ReadWorkQueueByName(r.Context(), r.PathValue("pool"), r.PathValue("name"))
	if err != nil {
		return response{}, err
	}
	return noContent(), a.store.UpdateWorkQueue(r.Context(), q.ID, *u)
}

func (a *API) deleteWorkQueueInPool(r *http.Request, _ *none) (response, error) {
	q, err := a.store.ReadWorkQueueByName(r.Context(), r.PathValue("pool"), r.PathValue("name"))
	if err != nil {
		return response{}, err
	}
	return noContent(), a.store.DeleteWorkQueue(r.Context(), q.ID)
}

// The legacy /work_queues/ routes, by id or by name alone.

func (a *API) createLegacyWorkQueue(r *http.Request, req *schema.WorkQueueCreate) (response, error) {
	pool := schema.DefaultAgentPoolName
	if req.WorkPoolName != nil && *req.WorkPoolName != "" {
		pool = *req.WorkPoolName
	} else if _, err := a.store.ReadWorkPoolByName(r.Context(), pool); err != nil {
		if !isNotFound(err) {
			return response{}, err
		}
		if _, err := a.store.CreateWorkPool(r.Context(), schema.WorkPoolCreate{Name: pool, Type: schema.AgentPoolType,
			StorageConfiguration: &schema.WorkPoolStorageConfiguration{}}); err != nil && !isConflict(err) {
			return response{}, err
		}
		if req.Name == schema.DefaultQueueName {
			q, err := a.store.ReadWorkQueueByName(r.Context(), pool, req.Name)
			return created(q), err
		}
	}
	q, err := a.store.CreateWorkQueue(r.Context(), pool, *req)
	if err != nil {
		if isConflict(err) {
			return response{}, detail(http.StatusConflict, "A work queue with this name already exists.")
		}
		return response{}, err
	}
	return created(q), nil
}

func (a *API) readLegacyWorkQueue(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	q, err := a.store.ReadWorkQueue(r.Context(), id)
	if isNotFound(err) {
		return response{}, detail(http.StatusNotFound, "work queue not found")
	}
	return ok(q), err
}

func (a *API) readLegacyWorkQueueByName(r *http.Request, _ *none) (response, error) {
	q, err := a.store.ReadWorkQueueByName(r.Context(), "", r.PathValue("name"))
	if isNotFound(err) {
		return response{}, detail(http.StatusNotFound, "work queue not found")
	}
	return ok(q), err
}

func (a *API) filterLegacyWorkQueues(r *http.Request, q *schema.WorkQueueQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	qs, err := a.store.FilterWorkQueues(r.Context(), "", *q)
	return ok(qs), err
}

func (a *API) updateLegacyWorkQueue(r *http.Request, u *schema.WorkQueueUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	err = a.store.UpdateWorkQueue(r.Context(), id, *u)
	if isNotFound(err) {
		return response{}, detail(http.StatusNotFound, "Work Queue "+id.String()+" not found")
	}
	return noContent(), err
}

func (a *API) deleteLegacyWorkQueue(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	err = a.store.DeleteWorkQueue(r.Context(), id)
	if isNotFound(err) {
		return response{}, detail(http.StatusNotFound, "work queue not found")
	}
	return noContent(), err
}

// --- Workers ---

func (a *API) workerHeartbeat(r *http.Request, req *schema.WorkerHeartbeat) (response, error) {
	return noContent(), a.store.WorkerHeartbeat(r.Context(), r.PathValue("pool"), req.Name, req.HeartbeatIntervalSeconds)
}

func (a *API) filterWorkers(r *http.Request, q *schema.WorkerQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	ws, err := a.store.FilterWorkers(r.Context(), r.PathValue("pool"), *q)
	if err != nil {
		return response{}, err
	}
	// Like Prefect's WorkerResponse, the status answered is computed from
	// the last heartbeat.
	now := a.clock()
	for i := range ws {
		ws[i].Status = schema.WorkerOffline
		if ws[i].Online(now) {
			ws[i].Status = schema.WorkerOnline
		}
	}
	return ok(ws), nil
}

func (a *API) deleteWorker(r *http.Request, _ *none) (response, error) {
	return noContent(), a.store.DeleteWorker(r.Context(), r.PathValue("pool"), r.PathValue("name"))
}

// getScheduledFlowRunsForPool answers a worker's poll, then records it: the
// polled queues become READY, and so do their deployments.
func (a *API) getScheduledFlowRunsForPool(r *http.Request, req *schema.WorkerScheduledRunsRequest) (response, error) {
	page := schema.Page{Limit: req.Limit}
	if err := a.checkPage(&page); err != nil {
		return response{}, err
	}
	ctx := r.Context()
	poolName := r.PathValue("name")
	pool, err := a.store.ReadWorkPoolByName(ctx, poolName)
	if err != nil {
		return response{}, err
	}
	var queueIDs, polled []uuid.UUID
	if len(req.WorkQueueNames) == 0 {
		qs, err := a.store.FilterWorkQueues(ctx, poolName, schema.WorkQueueQuery{})
		if err != nil {
			return response{}, err
		}
		for _, q := range qs {
			polled = append(polled, q.ID)
		}
	} else {
		for _, name := range req.WorkQueueNames {
			q, err := a.store.ReadWorkQueueByName(ctx, poolName, name)
			if err != nil {
				return response{}, err
			}
			queueIDs = append(queueIDs, q.ID)
		}
		polled = queueIDs
	}
	runs, err := a.store.GetScheduledFlowRuns(ctx, schema.ScheduledRunsQuery{WorkPoolID: pool.ID, WorkQueueIDs: queueIDs,
		ScheduledBefore: req.ScheduledBefore.Ptr(), ScheduledAfter: req.ScheduledAfter.Ptr(), Limit: *page.Limit})
	if err != nil {
		return response{}, err
	}
	if err := a.store.MarkWorkQueuesPolled(ctx, polled); err != nil {
		// The runs are the answer; a lost poll mark only delays READY.
		a.log.Warn("recording a work queue poll", "work_pool", poolName, "error", err)
	}
	return ok(runs), nil
}

// workQueueRunsRequest is the body of the legacy POST /work_queues/{id}/get_runs.
type workQueueRunsRequest struct {
	ScheduledBefore *schema.DateTime `json:"scheduled_before"`
	Limit           *int             `json:"limit"`
}

// EmbeddedBody marks workQueueRunsRequest as FastAPI's body of several parameters.
func (workQueueRunsRequest) EmbeddedBody() {}

// readWorkQueueRuns answers the legacy agents' poll of one queue; a poll by
// the UI (X-Prefect-UI: true) is not recorded as one.
func (a *API) readWorkQueueRuns(r *http.Request, req *workQueueRunsRequest) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	page := schema.Page{Limit: req.Limit}
	if err := a.checkPage(&page); err != nil {
		return response{}, err
	}
	q, err := a.store.ReadWorkQueue(r.Context(), id)
	if isNotFound(err) || (err == nil && q.WorkPoolID == nil) {
		return response{}, detail(http.StatusNotFound, "work queue not found")
	}
	if err != nil {
		return response{}, err
	}
	found, err := a.store.GetScheduledFlowRuns(r.Context(), schema.ScheduledRunsQuery{WorkPoolID: *q.WorkPoolID,
		WorkQueueIDs: []uuid.UUID{id}, ScheduledBefore: req.ScheduledBefore.Ptr(), Limit: *page.Limit})
	if err != nil {
		return response{}, err
	}
	runs := make([]schema.FlowRun, len(found))
	for i, f := range found {
		runs[i] = f.FlowRun
	}
	if !strings.EqualFold(r.Header.Get("X-Prefect-Ui"), "true") {
		if err := a.store.MarkWorkQueuesPolled(r.Context(), []uuid.UUID{id}); err != nil {
			a.log.Warn("recording a work queue poll", "work_queue_id", id, "error", err)
		}
	}
	return ok(runs), nil
}

// placeRunInPool resolves the work_pool_name and work_queue_name of a run
// created through POST /flow_runs/: the pool's named queue, or its default
// queue (Prefect answers 404 for a missing pool or queue).
func (a *API) placeRunInPool(r *http.Request, run *schema.FlowRun) error {
	if run.WorkPoolName == nil || *run.WorkPoolName == "" {
		return nil
	}
	ctx := r.Context()
	var q schema.WorkQueue
	var err error
	if run.WorkQueueName != nil && *run.WorkQueueName != "" {
		q, err = a.store.ReadWorkQueueByName(ctx, *run.WorkPoolName, *run.WorkQueueName)
	} else {
		var p schema.WorkPool
		if p, err = a.store.ReadWorkPoolByName(ctx, *run.WorkPoolName); err == nil && p.DefaultQueueID != nil {
			q, err = a.store.ReadWorkQueue(ctx, *p.DefaultQueueID)
		}
	}
	if err != nil {
		return err
	}
	run.WorkQueueID, run.WorkQueueName, run.WorkPoolID, run.WorkPoolName = &q.ID, &q.Name, q.WorkPoolID, q.WorkPoolName
	return nil
}

// workQueueHealthPolicy is the one policy Prefect applies to every queue.
type workQueueHealthPolicy struct {
	MaximumLateRuns               int `json:"maximum_late_runs"`
	MaximumSecondsSinceLastPolled int `json:"maximum_seconds_since_last_polled"`
}

// workQueueStatus is the answer of GET /work_queues/{id}/status.
type workQueueStatus struct {
	Healthy           bool                  `json:"healthy"`
	LateRunsCount     int                   `json:"late_runs_count"`
	LastPolled        *time.Time            `json:"last_polled"`
	HealthCheckPolicy workQueueHealthPolicy `json:"health_check_policy"`
}

// readWorkQueueStatus says whether a queue is healthy: polled within the
// last minute and without Late runs.
func (a *API) readWorkQueueStatus(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	q, err := a.store.ReadWorkQueue(r.Context(), id)
	if isNotFound(err) {
		return response{}, &apiError{Status: http.StatusNotFound, Body: map[string]string{"exception_message": "Work queue with id " + id.String() + " not found"}}
	}
	if err != nil {
		return response{}, err
	}
	late, err := a.store.CountFlowRuns(r.Context(), schema.Query{
		FlowRuns:       &schema.FlowRunFilter{State: &schema.StateFilter{Name: &schema.TextFilter{Any: []string{"Late"}}}},
		WorkPoolQueues: &schema.WorkQueueFilter{ID: &schema.IDFilter{Any: []uuid.UUID{id}}},
	})
	if err != nil {
		return response{}, err
	}
	policy := workQueueHealthPolicy{MaximumLateRuns: 0, MaximumSecondsSinceLastPolled: 60}
	healthy := late <= policy.MaximumLateRuns && q.LastPolled != nil &&
		a.clock().Sub(*q.LastPolled) <= time.Duration(policy.MaximumSecondsSinceLastPolled)*time.Second
	return ok(workQueueStatus{Healthy: healthy, LateRunsCount: late, LastPolled: q.LastPolled, HealthCheckPolicy: policy}), nil
}

// workQueueByNameOrStatus serves GET /work_queues/name/{name} and GET
// /work_queues/{id}/status, which the router cannot tell apart by pattern
// ("/work_queues/name/status" matches both).
func (a *API) workQueueByNameOrStatus() http.Handler {
	byName := endpoint(a, a.readLegacyWorkQueueByName)
	status := endpoint(a, a.readWorkQueueStatus)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first, second := r.PathValue("first"), r.PathValue("second")
		switch {
		case first == "name":
			r.SetPathValue("name", second)
			byName.ServeHTTP(w, r)
		case second == "status":
			r.SetPathValue("id", first)
			status.ServeHTTP(w, r)
		default:
			writeMessage(w, http.StatusNotFound, "detail", "Not Found")
		}
	})
}
