package httpapi

import (
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
)

func (a *API) createFlow(r *http.Request, req *schema.FlowCreate) (response, error) {
	f, isNew, err := a.store.UpsertFlow(r.Context(), *req)
	if err != nil {
		return response{}, err
	}
	return createdOr(isNew, f), nil
}

func (a *API) readFlow(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	f, err := a.store.ReadFlow(r.Context(), id)
	return ok(f), orNotFound(err, "Flow")
}

func (a *API) readFlowByName(r *http.Request, _ *none) (response, error) {
	f, err := a.store.ReadFlowByName(r.Context(), r.PathValue("name"))
	return ok(f), orNotFound(err, "Flow")
}

func (a *API) filterFlows(r *http.Request, q *schema.Query) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	flows, err := a.store.FilterFlows(r.Context(), *q)
	return ok(flows), err
}

func (a *API) countFlows(r *http.Request, q *schema.Query) (response, error) {
	n, err := a.store.CountFlows(r.Context(), *q)
	return ok(n), err
}

func (a *API) updateFlow(r *http.Request, u *schema.FlowUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.UpdateFlow(r.Context(), id, *u), "Flow")
}

func (a *API) deleteFlow(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.DeleteFlow(r.Context(), id), "Flow")
}

// orNotFound names the missing object in Prefect's 404 body.
func orNotFound(err error, what string) error {
	if errors.Is(err, schema.ErrNotFound) {
		return notFound(what)
	}
	return err
}

func (a *API) paginateFlows(r *http.Request, q *schema.Query) (response, error) {
	return paginate(a, &q.Page, q.PageNumber,
		func() ([]schema.Flow, error) { return a.store.FilterFlows(r.Context(), *q) },
		func() (int, error) { return a.store.CountFlows(r.Context(), *q) })
}
