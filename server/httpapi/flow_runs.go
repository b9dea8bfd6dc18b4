package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// createFlowRun creates a run with its initial state (Pending unless given),
// applied through the forced policy as Prefect does; a repeated idempotency
// key returns the existing run with 200.
func (a *API) createFlowRun(r *http.Request, req *schema.FlowRunCreate) (response, error) {
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
	if req.State != nil {
		initial := req.State.ToState(a.clock())
		run.State = &initial
	}
	stored, isNew, err := a.runs.CreateFlowRun(r.Context(), run)
	if err != nil {
		return response{}, err
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

func (a *API) paginateFlowRuns(r *http.Request, q *schema.Query) (response, error) {
	return paginate(a, &q.Page, q.PageNumber,
		func() ([]schema.FlowRun, error) { return a.store.FilterFlowRuns(r.Context(), *q) },
		func() (int, error) { return a.store.CountFlowRuns(r.Context(), *q) })
}

// setFlowRunState proposes a state through the runs service, whose rules
// decide inside the store's transaction. 201 means a new state was written,
// 200 not.
func (a *API) setFlowRunState(r *http.Request, req *schema.SetStateRequest) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	if err := req.State.Validate(); err != nil {
		return response{}, err
	}
	t := schema.FlowRunTransition{State: req.State, Force: req.Force}
	if v, known := clientVersion(r); known {
		t.ClientVersion = &v
	}
	res, err := a.runs.SetFlowRunState(r.Context(), id, t)
	if err != nil {
		return response{}, orNotFound(err, "Flow run")
	}
	return stateResponse(res), nil
}

// stateResponse answers a proposed state as set_state does: 201 when a
// state was written, 200 with the verdict otherwise.
func stateResponse(res schema.TransitionResult) response {
	if res.Written {
		return created(res.OrchestrationResult)
	}
	return ok(res.OrchestrationResult)
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
