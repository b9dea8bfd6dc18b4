package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// countDeploymentsByFlow answers {flow_id: deployment count} for every
// flow id asked, 0 for a flow without deployments or that does not exist.
func (a *API) countDeploymentsByFlow(r *http.Request, req *schema.UIFlowIDs) (response, error) {
	counts, err := a.store.CountDeploymentsByFlow(r.Context(), *req.FlowIDs)
	if err != nil {
		return response{}, err
	}
	out := make(map[uuid.UUID]int, len(*req.FlowIDs))
	for _, id := range *req.FlowIDs {
		out[id] = counts[id]
	}
	return ok(out), nil
}

// nextRunsByFlow answers {flow_id: next scheduled run} for every flow id
// asked, null for a flow with no scheduled run.
func (a *API) nextRunsByFlow(r *http.Request, req *schema.UIFlowIDs) (response, error) {
	next, err := a.store.NextScheduledFlowRuns(r.Context(), *req.FlowIDs)
	if err != nil {
		return response{}, err
	}
	out := make(map[uuid.UUID]*schema.SimpleNextFlowRun, len(*req.FlowIDs))
	for _, id := range *req.FlowIDs {
		if run, found := next[id]; found {
			out[id] = &run
		} else {
			out[id] = nil
		}
	}
	return ok(out), nil
}
