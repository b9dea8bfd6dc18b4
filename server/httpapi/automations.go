package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
)

// The automations API stores automations as Prefect's does, related to the
// deployments they run and to the resource that owns them. Their triggers
// are not evaluated yet: an automation is kept, listed and shown, and does
// not fire.

var automationNotFound = detail(http.StatusNotFound, "Automation not found")

func (a *API) createAutomation(r *http.Request, req *schema.AutomationCreate) (response, error) {
	owner := ""
	if req.OwnerResource != nil {
		owner = *req.OwnerResource
	}
	out, err := a.store.CreateAutomation(r.Context(), req.Automation(), owner)
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
	if isNotFound(err) {
		return response{}, automationNotFound
	}
	return ok(out), err
}

// replaceAutomation is PUT: the whole automation again, 204.
func (a *API) replaceAutomation(r *http.Request, req *schema.AutomationCore) (response, error) {
	return a.changeAutomation(r, func(id uuid.UUID) (schema.Automation, error) {
		return a.store.ReplaceAutomation(r.Context(), id, req.Automation())
	})
}

// patchAutomation is PATCH: enabled, which a body without it sets true.
func (a *API) patchAutomation(r *http.Request, req *schema.AutomationPatch) (response, error) {
	enabled := req.Enabled == nil || *req.Enabled
	return a.changeAutomation(r, func(id uuid.UUID) (schema.Automation, error) {
		return a.store.SetAutomationEnabled(r.Context(), id, enabled)
	})
}

func (a *API) changeAutomation(r *http.Request, change func(uuid.UUID) (schema.Automation, error)) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	out, err := change(id)
	if isNotFound(err) {
		return response{}, automationNotFound
	}
	if err != nil {
		return response{}, err
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
	if isNotFound(err) {
		return response{}, automationNotFound
	}
	if err != nil {
		return response{}, err
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

func (a *API) countAutomations(r *http.Request, q *schema.AutomationCountQuery) (response, error) {
	n, err := a.store.CountAutomations(r.Context(), q.Automations)
	return ok(n), err
}

// automationsRelatedTo lists the automations related to a resource
// ("prefect.deployment.<id>"): those that run it and those it owns.
func (a *API) automationsRelatedTo(r *http.Request, _ *none) (response, error) {
	out, err := a.store.AutomationsRelatedTo(r.Context(), r.PathValue("resource_id"))
	return ok(out), err
}

// deleteAutomationsOwnedBy deletes what a resource owns, 202 as Prefect.
func (a *API) deleteAutomationsOwnedBy(r *http.Request, _ *none) (response, error) {
	_, err := a.store.DeleteAutomationsOwnedBy(r.Context(), r.PathValue("resource_id"), a.clock())
	return response{Status: http.StatusAccepted}, err
}
