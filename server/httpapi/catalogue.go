package httpapi

import (
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/catalogue"
	"prefectgo.dev/prefectgo/server/events"
)

// What the server serves from the prefect package's catalogue
// (server/catalogue): the collection views (collections.py) and the
// installation of the protected block types (block_types.py).

// readCollectionView serves a view bundled in the wheel. Prefect fetches
// views from the collection registry on GitHub and falls back to the
// bundled file; this server never fetches, so a view Prefect knows but does
// not bundle is answered as Prefect answers content the registry lacks.
func (a *API) readCollectionView(r *http.Request, _ *none) (response, error) {
	view := r.PathValue("view")
	body, err := a.catalogue.View(view)
	switch {
	case errors.Is(err, catalogue.ErrUnknownView):
		return response{}, detail(http.StatusNotFound, "View "+view+" not found in registry")
	case errors.Is(err, catalogue.ErrMissingView):
		return response{}, detail(http.StatusNotFound, "Requested content missing for view "+view)
	case err != nil:
		return response{}, err
	}
	return ok(body), nil
}

// installSystemBlockTypes installs the protected system block types
// (Webhook, Secret, LocalFileSystem) with their schemas, and answers null as
// Prefect does. Without the catalogue there is nothing to install them from
// (their schemas come only from the prefect package, never from here): the
// answer is 501, which says this server lacks the means, not that the caller
// erred, and which clients do not retry, rightly, since the catalogue is
// read only at start. (A 503 would have the prefect client retry it.)
func (a *API) installSystemBlockTypes(r *http.Request, _ *none) (response, error) {
	changes, err := a.catalogue.InstallProtected(r.Context(), a.store)
	for _, ch := range changes {
		a.emitLifecycleEvent(r.Context(), events.BlockTypeChanged(ch.Action, ch.BlockType, a.clock()))
	}
	if errors.Is(err, catalogue.ErrNoBlocks) {
		return response{}, detail(http.StatusNotImplemented, "The block catalogue is not installed on this server "+
			"(PREFECT_SERVER_CATALOGUE_DIRECTORY): there is nothing to install the system block types from.")
	}
	if err != nil {
		return response{}, err
	}
	return ok(jsonNull), nil
}
