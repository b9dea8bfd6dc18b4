package httpapi

import (
	"context"
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
)

// rawBody keeps a request body as sent, for endpoints that validate it
// themselves (POST /events measures each event's size as received).
type rawBody []byte

func (b *rawBody) UnmarshalJSON(data []byte) error {
	*b = append((*b)[:0], data...)
	return nil
}

// createEvents accepts a batch of events: all valid, or none is taken.
func (a *API) createEvents(r *http.Request, body *rawBody) (response, error) {
	if a.ingest == nil {
		return response{}, detail(http.StatusServiceUnavailable, "event ingestion is not running")
	}
	if err := a.ingest(r.Context(), *body); err != nil {
		var bad *events.InvalidEventError
		if errors.As(err, &bad) {
			return response{}, invalid([]string{"body"}, bad.Error(), "value_error", nil)
		}
		return response{}, err
	}
	return noContent(), nil
}

// emitFlowRunEvent publishes prefect.flow-run.<State> for a committed
// transition, naming the run's flow (and parent task run) as Prefect does.
func (a *API) emitFlowRunEvent(ctx context.Context, run schema.FlowRun, initial *schema.State, validated schema.State) {
	if a.events == nil {
		return
	}
	var rel events.FlowRunRelated
	if f, err := a.store.ReadFlow(ctx, run.FlowID); err == nil {
		rel.FlowName, rel.FlowTags = f.Name, f.Tags
	}
	if run.DeploymentID != nil {
		if d, err := a.store.ReadDeployment(ctx, *run.DeploymentID); err == nil {
			rel.DeploymentName, rel.DeploymentTags = d.Name, d.Tags
		}
	}
	if run.WorkPoolID != nil {
		if p, err := a.store.ReadWorkPool(ctx, *run.WorkPoolID); err == nil {
			rel.WorkPoolType = p.Type
		}
	}
	if run.ParentTaskRunID != nil {
		if tr, err := a.store.ReadTaskRun(ctx, *run.ParentTaskRunID); err == nil {
			rel.ParentTaskRun = &events.RelatedTaskRun{ID: tr.ID, Name: tr.Name, Tags: tr.Tags}
		}
	}
	if err := a.events.Emit(ctx, events.FlowRunStateChanged(run, initial, validated, rel)); err != nil {
		a.log.Warn("emitting a flow-run event", "flow_run_id", run.ID, "error", err)
	}
}
