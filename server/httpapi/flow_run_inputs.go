package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/templates"
)

// Resuming paused runs, and the inputs they wait for.

var flowRunInputNotFound = detail(http.StatusNotFound, "Flow run input not found")

// resumeFlowRun resumes a paused run as Prefect does: a run that paused
// waiting for input gets the run_input checked (hydrated, then validated
// against the schema it saved under its keyset) before it moves, and the
// input is stored with the state; a bad input is a REJECT that leaves the
// run paused. The state change itself goes through the runs service.
func (a *API) resumeFlowRun(r *http.Request, req *schema.ResumeRequest) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	run, err := a.store.ReadFlowRun(r.Context(), id)
	if err != nil {
		return response{}, orNotFound(err, "Flow run")
	}
	t := schema.FlowRunTransition{Resume: true}
	if v, known := clientVersion(r); known {
		t.ClientVersion = &v
	}
	if run.State != nil && run.State.Type == schema.StatePaused && run.State.StateDetails.RunInputKeyset != nil {
		in, reason, err := a.checkRunInput(r, run, req.RunInput)
		if err != nil {
			return response{}, err
		}
		if reason != "" {
			return ok(schema.OrchestrationResult{State: run.State, Status: schema.StatusReject,
				Details: schema.OrchestrationDetails{Type: "abort_details", Reason: &reason}}), nil
		}
		t.RunInput = in
	}
	res, err := a.runs.SetFlowRunState(r.Context(), id, t)
	if err != nil {
		return response{}, orNotFound(err, "Flow run")
	}
	return stateResponse(res), nil
}

// checkRunInput hydrates and validates the input a paused run waits for;
// reason says why it is refused. The input to store is nil when there is
// none to store (an empty one).
func (a *API) checkRunInput(r *http.Request, run schema.FlowRun, input map[string]any) (*schema.FlowRunInput, string, error) {
	var keyset struct {
		Schema   string `json:"schema"`
		Response string `json:"response"`
	}
	_ = json.Unmarshal(*run.State.StateDetails.RunInputKeyset, &keyset)
	var values any = map[string]any{}
	if input != nil {
		h, err := a.hydrate(r.Context(), input, keepTemplate)
		var failed *templates.HydrationError
		if errors.As(err, &failed) {
			return nil, "Error hydrating run input: " + failed.Message, nil
		}
		if err != nil {
			return nil, "", err
		}
		values = h
	}
	saved, err := a.store.ReadFlowRunInput(r.Context(), run.ID, keyset.Schema)
	if isNotFound(err) {
		return nil, "Run input schema not found.", nil
	}
	if err != nil {
		return nil, "", err
	}
	if !json.Valid([]byte(saved.Value)) {
		return nil, "Run input schema is not valid JSON.", nil
	}
	encoded, _ := json.Marshal(values)
	if err := schema.ValidateParameters(encoded, json.RawMessage(saved.Value), false, true); err != nil {
		return nil, "Reason: " + err.Error(), nil
	}
	if m, _ := values.(map[string]any); len(m) == 0 {
		return nil, "", nil
	}
	return &schema.FlowRunInput{Key: keyset.Response, Value: string(encoded)}, "", nil
}

func (a *API) createFlowRunInput(r *http.Request, req *schema.FlowRunInputCreate) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	err = a.store.CreateFlowRunInput(r.Context(), schema.FlowRunInput{FlowRunID: id, Key: *req.Key, Value: *req.Value, Sender: req.Sender})
	if err != nil {
		return response{}, orNotFound(err, "Flow run")
	}
	return created(nil), nil
}

func (a *API) filterFlowRunInputs(r *http.Request, q *schema.FlowRunInputQuery) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	out, err := a.store.FilterFlowRunInputs(r.Context(), id, *q.Prefix, q.ExcludeKeys, *q.Limit)
	return ok(out), err
}

// readFlowRunInput answers the value itself, as text.
func (a *API) readFlowRunInput(w http.ResponseWriter, r *http.Request) {
	id, err := uuidRouteID(r)
	if err == nil {
		var in schema.FlowRunInput
		in, err = a.store.ReadFlowRunInput(r.Context(), id, r.PathValue("key"))
		if err == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(in.Value))
			return
		}
		if isNotFound(err) {
			err = flowRunInputNotFound
		}
	}
	writeError(w, r, a.log, err)
}

func (a *API) deleteFlowRunInput(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	if err := a.store.DeleteFlowRunInput(r.Context(), id, r.PathValue("key")); isNotFound(err) {
		return response{}, flowRunInputNotFound
	} else if err != nil {
		return response{}, err
	}
	return noContent(), nil
}
