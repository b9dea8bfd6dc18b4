package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// The bulk routes act on the first Limit objects a filter selects, one
// object at a time: each deletion and each state change is its own
// transaction, as each state change is in Prefect's.

func (a *API) bulkDeleteFlowRuns(r *http.Request, q *schema.BulkQuery) (response, error) {
	runs, err := a.store.FilterFlowRuns(r.Context(), schema.Query{FlowRuns: q.FlowRuns, Page: schema.Page{Limit: q.Limit}})
	if err != nil {
		return response{}, err
	}
	ids := make([]uuid.UUID, len(runs))
	for i, run := range runs {
		ids[i] = run.ID
	}
	return bulkDelete(r.Context(), ids, a.store.DeleteFlowRun)
}

func (a *API) bulkDeleteFlows(r *http.Request, q *schema.BulkQuery) (response, error) {
	flows, err := a.store.FilterFlows(r.Context(), schema.Query{Flows: q.Flows, Page: schema.Page{Limit: q.Limit}})
	if err != nil {
		return response{}, err
	}
	ids := make([]uuid.UUID, len(flows))
	for i, f := range flows {
		ids[i] = f.ID
	}
	return bulkDelete(r.Context(), ids, a.store.DeleteFlow)
}

func (a *API) bulkDeleteDeployments(r *http.Request, q *schema.BulkQuery) (response, error) {
	deps, err := a.store.FilterDeployments(r.Context(), schema.DeploymentQuery{Deployments: q.Deployments, Page: schema.Page{Limit: q.Limit}})
	if err != nil {
		return response{}, err
	}
	ids := make([]uuid.UUID, len(deps))
	for i, d := range deps {
		ids[i] = d.ID
	}
	return bulkDelete(r.Context(), ids, a.store.DeleteDeployment)
}

// bulkDelete deletes each id and answers those it deleted; one deleted
// meanwhile by someone else is left out.
func bulkDelete(ctx context.Context, ids []uuid.UUID, del func(context.Context, uuid.UUID) error) (response, error) {
	out := schema.BulkDeleted{Deleted: []uuid.UUID{}}
	for _, id := range ids {
		err := del(ctx, id)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return response{}, err
		}
		out.Deleted = append(out.Deleted, id)
	}
	return ok(out), nil
}

// bulkSetFlowRunState proposes the state to each selected run through the
// runs service, as set_state does for one, and answers every verdict.
func (a *API) bulkSetFlowRunState(r *http.Request, q *schema.BulkSetStateQuery) (response, error) {
	runs, err := a.store.FilterFlowRuns(r.Context(), schema.Query{FlowRuns: q.FlowRuns, Page: schema.Page{Limit: q.Limit}})
	if err != nil {
		return response{}, err
	}
	t := schema.FlowRunTransition{State: *q.State, Force: q.Force}
	if v, known := clientVersion(r); known {
		t.ClientVersion = &v
	}
	out := schema.BulkSetStateResults{Results: []schema.BulkStateResult{}}
	for _, run := range runs {
		res, err := a.runs.SetFlowRunState(r.Context(), run.ID, t)
		switch {
		case isNotFound(err):
			reason := "Flow run not found"
			res.OrchestrationResult = schema.OrchestrationResult{Status: schema.StatusAbort,
				Details: schema.OrchestrationDetails{Type: "abort_details", Reason: &reason}}
		case err != nil:
			return response{}, err
		}
		out.Results = append(out.Results, schema.BulkStateResult{FlowRunID: run.ID, OrchestrationResult: res.OrchestrationResult})
	}
	return ok(out), nil
}
