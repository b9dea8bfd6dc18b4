package httpapi

import (
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
)

func (a *API) createArtifact(r *http.Request, req *schema.ArtifactCreate) (response, error) {
	art, err := a.store.CreateArtifact(r.Context(), *req)
	if err != nil {
		return response{}, err
	}
	return created(art), nil
}

func (a *API) readArtifact(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	art, err := a.store.ReadArtifact(r.Context(), id)
	return ok(art), orNotFound(err, "Artifact")
}

func (a *API) readLatestArtifact(r *http.Request, _ *none) (response, error) {
	art, err := a.store.ReadLatestArtifact(r.Context(), r.PathValue("key"))
	return ok(art), orNotFound(err, "Artifact")
}

func (a *API) updateArtifact(r *http.Request, u *schema.ArtifactUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.UpdateArtifact(r.Context(), id, *u), "Artifact")
}

func (a *API) deleteArtifact(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.DeleteArtifact(r.Context(), id), "Artifact")
}

func (a *API) filterArtifacts(r *http.Request, q *schema.ArtifactQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	arts, err := a.store.FilterArtifacts(r.Context(), *q)
	return ok(arts), err
}

func (a *API) countArtifacts(r *http.Request, q *schema.ArtifactQuery) (response, error) {
	n, err := a.store.CountArtifacts(r.Context(), *q)
	return ok(n), err
}

func (a *API) filterLatestArtifacts(r *http.Request, q *schema.ArtifactQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	arts, err := a.store.FilterLatestArtifacts(r.Context(), *q)
	return ok(arts), err
}

func (a *API) countLatestArtifacts(r *http.Request, q *schema.ArtifactQuery) (response, error) {
	n, err := a.store.CountLatestArtifacts(r.Context(), *q)
	return ok(n), err
}
