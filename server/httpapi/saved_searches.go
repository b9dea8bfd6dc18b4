package httpapi

import (
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
)

// savedSearchNotFound is Prefect's 404 for a saved search's id.
var savedSearchNotFound = detail(http.StatusNotFound, "Saved search not found")

// upsertSavedSearch answers 201 when the name was new and 200 when it
// replaced the filters of an existing saved search, as Prefect does.
func (a *API) upsertSavedSearch(r *http.Request, req *schema.SavedSearchCreate) (response, error) {
	s, isNew, err := a.store.UpsertSavedSearch(r.Context(), *req)
	return createdOr(isNew, s), err
}

func (a *API) readSavedSearch(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	s, err := a.store.ReadSavedSearch(r.Context(), id)
	if isNotFound(err) {
		return response{}, savedSearchNotFound
	}
	return ok(s), err
}

func (a *API) filterSavedSearches(r *http.Request, q *schema.SavedSearchQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	out, err := a.store.FilterSavedSearches(r.Context(), *q)
	return ok(out), err
}

func (a *API) deleteSavedSearch(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	if err := a.store.DeleteSavedSearch(r.Context(), id); isNotFound(err) {
		return response{}, savedSearchNotFound
	} else if err != nil {
		return response{}, err
	}
	return noContent(), nil
}
