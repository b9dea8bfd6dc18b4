package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/orchestration"
	"prefectgo.dev/prefectgo/server/schema"
)

// createFlowRun creates a run with its initial state (Pending unless given),
// applied through the forced policy as Prefect does; a repeated idempotency
// key returns the existing run with 200.
func (a *API) createFlowRun(r *http.Request, req *schema.FlowRunCreate) (response, error) {
	now := a.clock()
	run := schema.FlowRun{
		ID: uuid.Must(uuid.NewV7()), Name: *req.Name, FlowID: req.FlowID, FlowVersion: req.FlowVersion,
		DeploymentID: req.DeploymentID, Parameters: req.Parameters, Context: req.Context,
		ParentTaskRunID: req.ParentTaskRunID, InfrastructureDocumentID: req.InfrastructureDocumentID,
		EmpiricalPolicy: *req.EmpiricalPolicy, Tags: req.Tags, Labels: req.Labels, IdempotencyKey: req.IdempotencyKey,
		WorkQueueName: req.WorkQueueName, WorkPoolName: req.WorkPoolName, JobVariables: req.JobVariables,
		CreatedBy: req.CreatedBy,
	}
	if err := a.placeRunInPool(r, &run); err != nil {
		return response{}, err
	}
	proposal := schema.StateCreate{Type: schema.StatePending}
	if req.State != nil {
		proposal = *req.State
	}
	res := orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Proposed: proposal.ToState(now), Force: true, Now: now})
	if res.Write != nil {
		run = res.Run
		run.State = res.Write
	}
	stored, isNew, err := a.store.CreateFlowRun(r.Context(), run)
	if err != nil {
		return response{}, err
	}
	if isNew && stored.State != nil {
		a.afterFlowRunTransition(r.Context(), stored, nil, *stored.State)
	}
	return createdOr(isNew, stored), nil
}

func (a *API) readFlowRun(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	run, err := a.store.ReadFlowRun(r.Context(), id)
	return ok(run), orNotFound(err, "Flow run")
}

func (a *API) updateFlowRun(r *http.Request, u *schema.FlowRunUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.UpdateFlowRun(r.Context(), id, *u), "Flow run")
}

func (a *API) updateFlowRunLabels(r *http.Request, labels *json.RawMessage) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	if !schema.IsJSONObject(*labels) || len(*labels) == 0 {
		return response{}, invalid([]string{"body"}, "Input should be a valid dictionary", "dict_type", *labels)
	}
	if err := schema.ValidateLabelsDepth("", *labels); err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.MergeFlowRunLabels(r.Context(), id, *labels), "Flow run")
}

func (a *API) deleteFlowRun(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.DeleteFlowRun(r.Context(), id), "Flow run")
}

func (a *API) filterFlowRuns(r *http.Request, q *schema.Query) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	runs, err := a.store.FilterFlowRuns(r.Context(), *q)
	return ok(runs), err
}

func (a *API) countFlowRuns(r *http.Request, q *schema.Query) (response, error) {
	n, err := a.store.CountFlowRuns(r.Context(), *q)
	return ok(n), err
}

// setFlowRunState runs the proposal through the orchestration policy inside
// the store's transaction. 201 means a new state was written, 200 not.
func (a *API) setFlowRunState(r *http.Request, req *schema.SetStateRequest) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	if err := req.State.Validate(); err != nil {
		return response{}, err
	}
	now := a.clock()
	proposed := req.State.ToState(now)
	var client *[3]int
	if v, known := clientVersion(r); known {
		client = &v
	}
	var initial *schema.State
	res, err := a.store.SetFlowRunState(r.Context(), id, func(run schema.FlowRun, dep *orchestration.DeploymentConcurrency) orchestration.FlowRunResult {
		initial = run.State
		return orchestration.FlowRun(orchestration.FlowRunContext{Run: run, Proposed: proposed, Force: req.Force, Now: now,
			Deployment: dep, ClientVersion: client,
			ConcurrencySlotWait:            time.Duration(a.settings.Deployments.ConcurrencySlotWaitSeconds * float64(time.Second)),
			InitialDeploymentLeaseDuration: a.settings.Concurrency.InitialDeploymentLeaseDuration})
	})
	if err != nil {
		return response{}, orNotFound(err, "Flow run")
	}
	body := schema.OrchestrationResult{State: res.Run.State, Status: res.Status, Details: res.Details}
	if res.Write == nil {
		return ok(body), nil
	}
	a.afterFlowRunTransition(r.Context(), res.Run, initial, *res.Write)
	return created(body), nil
}

// afterFlowRunTransition does what follows a committed flow-run transition:
// the prefect.flow-run.<State> event, and for a subflow, a copy of its state
// on the parent's tracking task run (Prefect's UpdateSubflowParentTask).
// Failures are logged: the transition itself has already been recorded.
func (a *API) afterFlowRunTransition(ctx context.Context, run schema.FlowRun, initial *schema.State, validated schema.State) {
	ctx = context.WithoutCancel(ctx)
	a.flowRunEvents.StateChanged(ctx, run, initial, validated)
	if run.ParentTaskRunID == nil {
		return
	}
	proposal := schema.StateCreate{Type: validated.Type, Name: &validated.Name, Message: validated.Message,
		Data: validated.Data, StateDetails: validated.StateDetails}
	proposal.StateDetails.ChildFlowRunID = &run.ID
	proposal.StateDetails.FlowRunID = nil
	proposal.StateDetails.TaskRunID = run.ParentTaskRunID
	proposal.StateDetails.TransitionID = nil
	now := a.clock()
	_, err := a.store.SetTaskRunState(ctx, *run.ParentTaskRunID, nil, func(tr schema.TaskRun, fr *schema.FlowRun, _ *schema.State) orchestration.TaskRunResult {
		return orchestration.TaskRun(orchestration.TaskRunContext{Run: tr, Proposed: proposal.ToState(now), Force: true, Now: now, FlowRun: fr,
			MaxCacheKeyLength: a.settings.Tasks.MaxCacheKeyLength})
	})
	if err != nil {
		a.log.Warn("updating a subflow's parent task run", "flow_run_id", run.ID, "task_run_id", *run.ParentTaskRunID, "error", err)
	}
}

func (a *API) readFlowRunState(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	st, err := a.store.ReadFlowRunState(r.Context(), id)
	return ok(st), orNotFound(err, "Flow run state")
}

func (a *API) readFlowRunStates(r *http.Request, _ *none) (response, error) {
	id, err := uuid.Parse(r.URL.Query().Get("flow_run_id"))
	if err != nil {
		return response{}, invalid([]string{"query", "flow_run_id"}, "Input should be a valid UUID", "uuid_parsing", nil)
	}
	states, err := a.store.ReadFlowRunStates(r.Context(), id)
	return ok(states), err
}
