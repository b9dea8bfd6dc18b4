package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
)

// Automations are stored and served as Prefect's automations router serves
// them; nothing evaluates their triggers or runs their actions yet.

// automationNotFound is Prefect's 404 for an automation's id (an
// ObjectNotFoundError, hence exception_message).
var automationNotFound = &apiError{Status: http.StatusNotFound, Body: map[string]string{"exception_message": "Automation not found"}}

func automationOrNotFound(err error) error {
	if errors.Is(err, schema.ErrNotFound) {
		return automationNotFound
	}
	return err
}

func (a *API) createAutomation(r *http.Request, req *schema.AutomationCreate) (response, error) {
	out, err := a.store.CreateAutomation(r.Context(), *req)
	if err != nil {
		return response{}, err
	}
	a.emitLifecycleEvent(r.Context(), events.AutomationChanged("created", out, a.clock()))
	return created(out), nil
}

func (a *API) readAutomation(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	out, err := a.store.ReadAutomation(r.Context(), id)
	return ok(out), automationOrNotFound(err)
}

// updateAutomation is the PUT: the keys sent replace the stored ones.
func (a *API) updateAutomation(r *http.Request, req *schema.AutomationCore) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	out, err := a.store.UpdateAutomation(r.Context(), id, *req)
	if err != nil {
		return response{}, automationOrNotFound(err)
	}
	a.emitLifecycleEvent(r.Context(), events.AutomationChanged("updated", out, a.clock()))
	return noContent(), nil
}

// patchAutomation enables or disables an automation. The loop check runs
// on the whole automation, so Prefect reports its failure at the top of
// the automation, not under body.
func (a *API) patchAutomation(r *http.Request, req *schema.AutomationPartialUpdate) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	out, err := a.store.PatchAutomation(r.Context(), id, *req)
	var verr *schema.ValidationError
	if errors.As(err, &verr) {
		body, _ := json.Marshal(map[string]bool{"enabled": req.Enabled.Value == nil || *req.Enabled.Value})
		return response{}, invalid([]string{}, verr.Msg, "value_error", body)
	}
	if err != nil {
		return response{}, automationOrNotFound(err)
	}
	a.emitLifecycleEvent(r.Context(), events.AutomationChanged("updated", out, a.clock()))
	return noContent(), nil
}

func (a *API) deleteAutomation(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	out, err := a.store.DeleteAutomation(r.Context(), id)
	if err != nil {
		return response{}, automationOrNotFound(err)
	}
	a.emitLifecycleEvent(r.Context(), events.AutomationChanged("deleted", out, a.clock()))
	return noContent(), nil
}

func (a *API) filterAutomations(r *http.Request, q *schema.AutomationQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	out, err := a.store.FilterAutomations(r.Context(), *q)
	return ok(out), err
}

func (a *API) countAutomations(r *http.Request, q *schema.AutomationQuery) (response, error) {
	n, err := a.store.CountAutomations(r.Context(), *q)
	return ok(n), err
}

// readAutomationsRelatedTo answers the deployment and flow pages of the UI
// and `prefect deployment inspect`: the automations whose actions run the
// resource, or that it owns.
func (a *API) readAutomationsRelatedTo(r *http.Request, _ *none) (response, error) {
	out, err := a.store.ReadAutomationsRelatedTo(r.Context(), r.PathValue("resource_id"))
	return ok(out), err
}

// deleteAutomationsOwnedBy is what a deploy calls before it creates a
// deployment's triggers anew: 202 with null, whatever was deleted. Only
// automations created by now go, as in Prefect; no events are emitted for
// them, as Prefect emits none.
func (a *API) deleteAutomationsOwnedBy(r *http.Request, _ *none) (response, error) {
	_, err := a.store.DeleteAutomationsOwnedBy(r.Context(), r.PathValue("resource_id"), a.clock())
	if err != nil {
		return response{}, err
	}
	return response{Status: http.StatusAccepted, Body: jsonNull}, nil
}
