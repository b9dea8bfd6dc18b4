package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/schema"
)

// Block types, block schemas, block documents and capabilities, as
// src/prefect/server/api/block_{types,schemas,documents,capabilities}.py.

func (a *API) createBlockType(r *http.Request, req *schema.BlockTypeCreate) (response, error) {
	// API-created block types cannot start with "Prefect": reserved for the system.
	if strings.HasPrefix(strings.ToLower(req.Name), "prefect") {
		return response{}, detail(http.StatusForbidden, "Block type names beginning with 'Prefect' are reserved.")
	}
	bt, err := a.store.CreateBlockType(r.Context(), *req)
	if err != nil {
		return response{}, err
	}
	a.emitLifecycleEvent(r.Context(), events.BlockTypeChanged("created", bt, a.clock()))
	return created(bt), nil
}

func (a *API) readBlockType(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	bt, err := a.store.ReadBlockType(r.Context(), id)
	return ok(bt), orNotFound(err, "Block type")
}

func (a *API) readBlockTypeBySlug(r *http.Request, _ *none) (response, error) {
	bt, err := a.store.ReadBlockTypeBySlug(r.Context(), r.PathValue("slug"))
	return ok(bt), orNotFound(err, "Block type")
}

func (a *API) filterBlockTypes(r *http.Request, q *schema.BlockTypeQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	types, err := a.store.FilterBlockTypes(r.Context(), *q)
	return ok(types), err
}

func (a *API) updateBlockType(r *http.Request, u *schema.BlockTypeUpdate) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	changed, err := a.store.UpdateBlockType(r.Context(), id, *u)
	if err != nil {
		return response{}, orNotFound(err, "Block type")
	}
	if changed {
		if bt, err := a.store.ReadBlockType(r.Context(), id); err == nil {
			a.emitLifecycleEvent(r.Context(), events.BlockTypeChanged("updated", bt, a.clock()))
		}
	}
	return noContent(), nil
}

func (a *API) deleteBlockType(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	bt, err := a.store.ReadBlockType(r.Context(), id)
	if err != nil {
		return response{}, orNotFound(err, "Block type")
	}
	if err := a.store.DeleteBlockType(r.Context(), id); err != nil {
		return response{}, orNotFound(err, "Block type")
	}
	a.emitLifecycleEvent(r.Context(), events.BlockTypeChanged("deleted", bt, a.clock()))
	return noContent(), nil
}

// readBlockDocumentsOfType lists the (non-anonymous) documents of a type.
func (a *API) readBlockDocumentsOfType(r *http.Request, _ *none) (response, error) {
	includeSecrets, err := queryBool(r, "include_secrets")
	if err != nil {
		return response{}, err
	}
	bt, err := a.store.ReadBlockTypeBySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		return response{}, orNotFound(err, "Block type")
	}
	docs, err := a.store.FilterBlockDocuments(r.Context(), schema.BlockDocumentQuery{
		BlockDocuments: &schema.BlockDocumentFilter{
			BlockTypeID: &schema.IDFilter{Any: []uuid.UUID{bt.ID}},
			IsAnonymous: schema.NonAnonymous(),
		},
		IncludeSecrets: includeSecrets,
	})
	return ok(docs), err
}

// readBlockDocumentByName is how Block.load and prefect.yaml templating
// ({{ prefect.blocks.<slug>.<name> }}) find a document.
func (a *API) readBlockDocumentByName(r *http.Request, _ *none) (response, error) {
	includeSecrets, err := queryBool(r, "include_secrets")
	if err != nil {
		return response{}, err
	}
	doc, err := a.store.ReadBlockDocumentByName(r.Context(), r.PathValue("slug"), r.PathValue("name"), includeSecrets)
	return ok(doc), orNotFound(err, "Block document")
}

func (a *API) createBlockSchema(r *http.Request, req *schema.BlockSchemaCreate) (response, error) {
	bs, isNew, err := a.store.CreateBlockSchema(r.Context(), *req)
	if errors.Is(err, schema.ErrNotFound) {
		return response{}, detail(http.StatusNotFound, "Block type "+req.BlockTypeID.String()+" not found.")
	}
	if err != nil {
		return response{}, err
	}
	return createdOr(isNew, bs), nil
}

func (a *API) readBlockSchema(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	bs, err := a.store.ReadBlockSchema(r.Context(), id)
	return ok(bs), orNotFound(err, "Block schema")
}

func (a *API) readBlockSchemaByChecksum(r *http.Request, _ *none) (response, error) {
	var version *string
	if vs, ok := r.URL.Query()["version"]; ok && len(vs) > 0 {
		version = &vs[len(vs)-1]
	}
	bs, err := a.store.ReadBlockSchemaByChecksum(r.Context(), r.PathValue("checksum"), version)
	return ok(bs), orNotFound(err, "Block schema")
}

func (a *API) filterBlockSchemas(r *http.Request, q *schema.BlockSchemaQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	schemas, err := a.store.FilterBlockSchemas(r.Context(), *q)
	return ok(schemas), err
}

func (a *API) deleteBlockSchema(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	return noContent(), orNotFound(a.store.DeleteBlockSchema(r.Context(), id), "Block schema")
}

func (a *API) readBlockCapabilities(r *http.Request, _ *none) (response, error) {
	caps, err := a.store.ReadBlockCapabilities(r.Context())
	return ok(caps), err
}

func (a *API) createBlockDocument(r *http.Request, req *schema.BlockDocumentCreate) (response, error) {
	doc, err := a.store.CreateBlockDocument(r.Context(), *req)
	if err != nil {
		return response{}, orNotFound(err, "Block type")
	}
	a.emitBlockDocumentEvent(r, "created", doc)
	return created(doc), nil
}

func (a *API) readBlockDocument(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	includeSecrets, err := queryBool(r, "include_secrets")
	if err != nil {
		return response{}, err
	}
	doc, err := a.store.ReadBlockDocument(r.Context(), id, includeSecrets)
	return ok(doc), orNotFound(err, "Block document")
}

func (a *API) filterBlockDocuments(r *http.Request, q *schema.BlockDocumentQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	docs, err := a.store.FilterBlockDocuments(r.Context(), *q)
	return ok(docs), err
}

func (a *API) countBlockDocuments(r *http.Request, q *schema.BlockDocumentQuery) (response, error) {
	n, err := a.store.CountBlockDocuments(r.Context(), *q)
	return ok(n), err
}

func (a *API) updateBlockDocument(r *http.Request, u *schema.BlockDocumentUpdate) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	if err := a.store.UpdateBlockDocument(r.Context(), id, *u); err != nil {
		return response{}, orNotFound(err, "Block document")
	}
	if a.events != nil {
		if doc, err := a.store.ReadBlockDocument(r.Context(), id, false); err == nil {
			a.emitBlockDocumentEvent(r, "updated", doc)
		}
	}
	return noContent(), nil
}

func (a *API) deleteBlockDocument(r *http.Request, _ *none) (response, error) {
	id, err := uuidRouteID(r)
	if err != nil {
		return response{}, err
	}
	doc, readErr := a.store.ReadBlockDocument(r.Context(), id, false)
	if err := a.store.DeleteBlockDocument(r.Context(), id); err != nil {
		return response{}, orNotFound(err, "Block document")
	}
	if readErr == nil {
		a.emitBlockDocumentEvent(r, "deleted", doc)
	}
	return noContent(), nil
}

// emitBlockDocumentEvent publishes a document's lifecycle event; Prefect
// emits none for anonymous documents.
func (a *API) emitBlockDocumentEvent(r *http.Request, action string, doc schema.BlockDocument) {
	if !doc.IsAnonymous {
		a.emitLifecycleEvent(r.Context(), events.BlockDocumentChanged(action, doc, a.clock()))
	}
}

// emitLifecycleEvent publishes an object's created, updated or deleted event;
// a failure is logged, the change stands.
func (a *API) emitLifecycleEvent(ctx context.Context, ev schema.Event) {
	if a.events == nil {
		return
	}
	if err := a.events.Emit(ctx, ev); err != nil {
		a.log.Warn("emitting a lifecycle event", "event", ev.Event, "error", err)
	}
}

// uuidRouteID parses the {id} of a route Prefect declares with {id:uuid}
// (blocks, saved searches, a work queue's status): an id that is not a UUID
// matches no route, 404.
func uuidRouteID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, detail(http.StatusNotFound, "Not Found")
	}
	return id, nil
}

// queryBool reads an optional boolean query parameter as pydantic does
// (true/false, 1/0, yes/no, on/off, t/f, y/n; the last one given wins).
func queryBool(r *http.Request, name string) (bool, error) {
	vs := r.URL.Query()[name]
	if len(vs) == 0 {
		return false, nil
	}
	switch strings.ToLower(vs[len(vs)-1]) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off":
		return false, nil
	}
	return false, invalid([]string{"query", name}, "Input should be a valid boolean, unable to interpret input", "bool_parsing", nil)
}
