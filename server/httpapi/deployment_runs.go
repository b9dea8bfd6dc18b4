package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schedules"
	"prefectgo.dev/prefectgo/server/schema"
)

// bulkCreateLimit is how many runs one create_flow_run/bulk request may
// ask for, as in Prefect.
const bulkCreateLimit = 100

// createFlowRunFromDeployment makes a run of the deployment: its parameters
// merged with the given ones (and checked against its schema when
// enforced), its tags and queue, Scheduled now unless a state is given.
func (a *API) createFlowRunFromDeployment(r *http.Request, req *schema.DeploymentFlowRunCreate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	ctx := r.Context()
	d, err := a.store.ReadDeployment(ctx, id)
	if err != nil {
		return response{}, deploymentNotFound(err, false)
	}
	run, err := a.deploymentRun(ctx, d, req, createdBy(r))
	var refused *runRefused
	if errors.As(err, &refused) {
		return response{}, detail(refused.status, refused.single)
	}
	if err != nil {
		return response{}, err
	}
	stored, isNew, err := a.runs.CreateFlowRun(ctx, run)
	if err != nil {
		return response{}, err
	}
	return createdOr(isNew, stored), nil
}

// bulkCreateFlowRunsFromDeployment makes up to bulkCreateLimit runs of the
// deployment, each as create_flow_run makes one; a request that cannot
// become a run is answered FAILED with its reason and the others go on.
func (a *API) bulkCreateFlowRunsFromDeployment(r *http.Request, req *schema.DeploymentFlowRunCreates) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	if len(*req) > bulkCreateLimit {
		return response{}, detail(http.StatusBadRequest, "Cannot create more than 100 flow runs at once.")
	}
	ctx := r.Context()
	d, err := a.store.ReadDeployment(ctx, id)
	if err != nil {
		return response{}, deploymentNotFound(err, false)
	}
	out := schema.FlowRunBulkCreateResponse{Results: []schema.FlowRunCreateResult{}}
	for i := range *req {
		run, err := a.deploymentRun(ctx, d, &(*req)[i], createdBy(r))
		if err == nil {
			run, _, err = a.runs.CreateFlowRun(ctx, run)
		}
		if msg, failed := bulkFailure(err); failed {
			out.Results = append(out.Results, schema.FlowRunCreateResult{Status: "FAILED", Error: &msg})
			continue
		} else if err != nil {
			return response{}, err
		}
		out.Results = append(out.Results, schema.FlowRunCreateResult{FlowRunID: &run.ID, Status: "CREATED"})
	}
	return ok(out), nil
}

// bulkFailure says whether err is one request's own fault (reported in its
// result) rather than the server's (which fails the whole request).
func bulkFailure(err error) (string, bool) {
	var refused *runRefused
	if errors.As(err, &refused) {
		return refused.bulk, true
	}
	var api *apiError
	if errors.As(err, &api) && api.Status < http.StatusInternalServerError {
		if body, ok := api.Body.(map[string]string); ok {
			return body["detail"], true
		}
	}
	var verr *schema.ValidationError
	var conflict *schema.ConflictError
	var bad *schema.BadRequestError
	if errors.As(err, &verr) || errors.As(err, &conflict) || errors.As(err, &bad) || isNotFound(err) {
		return err.Error(), true
	}
	return "", false
}

// runRefused is why a run cannot be made of a deployment, worded as
// Prefect words it for create_flow_run (single) and for its bulk form.
type runRefused struct {
	status       int
	single, bulk string
}

func (e *runRefused) Error() string { return e.single }

// createdBy is who a request says made what it creates: an automation
// names itself in the Prefect-Automation-ID and (base64) -Name headers, as
// Prefect's get_created_by reads them; otherwise nobody.
func createdBy(r *http.Request) *schema.CreatedBy {
	id, err := uuid.Parse(r.Header.Get("Prefect-Automation-ID"))
	if err != nil {
		return nil
	}
	name, err := base64.StdEncoding.DecodeString(r.Header.Get("Prefect-Automation-Name"))
	if err != nil || len(name) == 0 {
		return nil
	}
	typ, display := "AUTOMATION", string(name)
	return &schema.CreatedBy{ID: &id, Type: &typ, DisplayValue: &display}
}

// deploymentRun builds (without inserting) the run req asks of d.
func (a *API) deploymentRun(ctx context.Context, d schema.Deployment, req *schema.DeploymentFlowRunCreate, by *schema.CreatedBy) (schema.FlowRun, error) {
	params := map[string]json.RawMessage{}
	_ = json.Unmarshal(d.Parameters, &params)
	var given map[string]json.RawMessage
	_ = json.Unmarshal(req.Parameters, &given)
	for k, v := range given {
		params[k] = v
	}
	merged, _ := json.Marshal(params)
	merged, err := a.hydrateParameters(ctx, merged)
	if err != nil {
		return schema.FlowRun{}, hydrationFailed(err, "flow run")
	}

	enforce := d.EnforceParameterSchema
	if req.EnforceParameterSchema != nil {
		enforce = *req.EnforceParameterSchema
	}
	if enforce {
		if !schema.IsJSONObject(d.ParameterOpenAPISchema) || len(d.ParameterOpenAPISchema) == 0 || isNullJSON(d.ParameterOpenAPISchema) {
			return schema.FlowRun{}, &runRefused{http.StatusConflict, "Error updating deployment: Cannot update parameters because parameter schema " +
				"enforcement is enabled and the deployment does not have a valid parameter schema.",
				"Parameter schema enforcement is enabled but deployment has no valid schema."}
		}
		if err := schema.ValidateParameters(merged, d.ParameterOpenAPISchema, false, true); err != nil {
			return schema.FlowRun{}, &runRefused{http.StatusConflict, "Error creating flow run: " + err.Error(),
				"Parameter validation failed: " + err.Error()}
		}
	}

	queueID, queueName := d.WorkQueueID, d.WorkQueueName
	poolID, poolName := d.WorkPoolID, d.WorkPoolName
	if req.WorkQueueName != nil && *req.WorkQueueName != "" {
		if d.WorkPoolName == nil {
			return schema.FlowRun{}, &runRefused{http.StatusBadRequest, "Cannot create flow run in work queue " + *req.WorkQueueName + " because deployment " +
				d.ID.String() + " is not associated with a work pool. Please remove work_pool_name and try again.",
				"Cannot create flow run in work queue " + *req.WorkQueueName + " because deployment is not associated with a work pool."}
		}
		q, err := a.store.EnsureWorkQueue(ctx, *d.WorkPoolName, *req.WorkQueueName)
		if err != nil {
			return schema.FlowRun{}, err
		}
		queueID, queueName, poolID = &q.ID, &q.Name, q.WorkPoolID
	}

	tags := slices.Clone(d.Tags)
	for _, t := range req.Tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	infra := req.InfrastructureDocumentID
	if infra == nil {
		infra = d.InfrastructureDocumentID
	}
	run := schema.FlowRun{
		ID: uuid.Must(uuid.NewV7()), Name: *req.Name, FlowID: d.FlowID, DeploymentID: &d.ID, DeploymentVersion: d.Version,
		Parameters: merged, Context: req.Context, ParentTaskRunID: req.ParentTaskRunID, InfrastructureDocumentID: infra,
		EmpiricalPolicy: *req.EmpiricalPolicy, Tags: tags, IdempotencyKey: req.IdempotencyKey,
		Labels:      schema.MergeObjects(d.Labels, schema.LabelsOf("prefect.flow.id", d.FlowID.String(), "prefect.deployment.id", d.ID.String()), req.Labels),
		WorkQueueID: queueID, WorkQueueName: queueName, WorkPoolID: poolID, WorkPoolName: poolName,
		JobVariables: req.JobVariables, CreatedBy: by,
	}
	proposal := schema.StateCreate{Type: schema.StateScheduled}
	if req.State != nil {
		proposal = *req.State
	}
	initial := proposal.ToState(a.clock())
	run.State = &initial
	return run, nil
}

// scheduleDeployment makes the deployment's scheduled runs in the window
// the body asks for (a backfill when it lies in the past), with the
// scheduler's settings for what it leaves out, as Prefect's
// models.deployments.schedule_runs does: even for a paused deployment, and
// nothing (not a 404) for one that does not exist. Runs already made are
// not made twice: they share their idempotency keys with the scheduler's.
func (a *API) scheduleDeployment(r *http.Request, req *schema.DeploymentScheduleRequest) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	ctx := r.Context()
	d, err := a.store.ReadDeployment(ctx, id)
	if isNotFound(err) {
		return ok(jsonNull), nil
	}
	if err != nil {
		return response{}, err
	}
	sch := a.settings.Services.Scheduler
	now := a.clock()
	w := schedules.Window{Start: now, MinTime: sch.MinScheduledTime, MinRuns: sch.MinRuns, MaxRuns: sch.MaxRuns}
	if req.StartTime != nil {
		w.Start = req.StartTime.UTC()
	}
	w.End = w.Start.Add(sch.MaxScheduledTime)
	if req.EndTime != nil {
		w.End = req.EndTime.UTC()
	}
	if req.MinTime != nil {
		w.MinTime = time.Duration(*req.MinTime * float64(time.Second))
	}
	if req.MinRuns != nil {
		w.MinRuns = *req.MinRuns
	}
	if req.MaxRuns != nil {
		w.MaxRuns = *req.MaxRuns
	}
	runs, skipped, err := schedules.DeploymentRuns(ctx, d, w, now)
	if err != nil {
		return response{}, err
	}
	for _, sk := range skipped {
		a.log.Error("skipping a schedule", "deployment_id", d.ID, "schedule_id", sk.ScheduleID, "error", sk.Err)
	}
	if _, err := a.runs.CreateScheduledRuns(ctx, runs); err != nil {
		return response{}, err
	}
	return ok(jsonNull), nil
}

// workQueueCheck is the deprecated GET /deployments/{id}/work_queue_check:
// the queues whose legacy filter would take the deployment's runs.
func (a *API) workQueueCheck(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	ctx := r.Context()
	d, err := a.store.ReadDeployment(ctx, id)
	if err != nil {
		return response{}, deploymentNotFound(err, false)
	}
	queues, err := a.store.FilterWorkQueues(ctx, "", schema.WorkQueueQuery{})
	if err != nil {
		return response{}, err
	}
	out := []schema.WorkQueue{}
	for _, q := range queues {
		if queueFilterTakes(q.Filter, d) {
			out = append(out, q)
		}
	}
	return ok(out), nil
}

// queueFilterTakes says whether a legacy queue filter takes d's runs, as
// Prefect's check_work_queues_for_deployment decides: all of the filter's
// tags are d's, and its deployment ids (if any) name d. A filter without
// them, or none at all, takes everything.
func queueFilterTakes(filter json.RawMessage, d schema.Deployment) bool {
	var f struct {
		Tags          []string `json:"tags"`
		DeploymentIDs []string `json:"deployment_ids"`
	}
	if json.Unmarshal(filter, &f) != nil {
		return true
	}
	for _, t := range f.Tags {
		if !slices.Contains(d.Tags, t) {
			return false
		}
	}
	return len(f.DeploymentIDs) == 0 || slices.Contains(f.DeploymentIDs, d.ID.String())
}
