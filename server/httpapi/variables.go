package httpapi

import (
	"errors"
	"net/http"
	"regexp"

	"prefectgo.dev/prefectgo/server/schema"
)

// variableNotFound is Prefect's 404 for variables (with its full stop).
var variableNotFound = detail(http.StatusNotFound, "Variable not found.")

// storableVariableName says whether a name could belong to a variable;
// others are answered 404 without asking the database.
var storableVariableName = regexp.MustCompile(`^[a-z0-9_-]{0,255}$`).MatchString

func variableOrNotFound(err error) error {
	if errors.Is(err, schema.ErrNotFound) {
		return variableNotFound
	}
	return err
}

func (a *API) createVariable(r *http.Request, req *schema.VariableCreate) (response, error) {
	v, err := a.store.CreateVariable(r.Context(), *req)
	var conflict *schema.ConflictError
	if errors.As(err, &conflict) {
		return response{}, detail(http.StatusConflict, "A variable with the name '"+*req.Name+"' already exists.")
	}
	if err != nil {
		return response{}, err
	}
	return created(v), nil
}

func (a *API) readVariable(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	v, err := a.store.ReadVariable(r.Context(), id)
	return ok(v), variableOrNotFound(err)
}

func (a *API) readVariableByName(r *http.Request, _ *none) (response, error) {
	name := r.PathValue("name")
	if !storableVariableName(name) {
		return response{}, variableNotFound
	}
	v, err := a.store.ReadVariableByName(r.Context(), name)
	return ok(v), variableOrNotFound(err)
}

func (a *API) filterVariables(r *http.Request, q *schema.VariableQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	vs, err := a.store.FilterVariables(r.Context(), *q)
	return ok(vs), err
}

func (a *API) countVariables(r *http.Request, q *schema.VariableQuery) (response, error) {
	n, err := a.store.CountVariables(r.Context(), *q)
	return ok(n), err
}

func (a *API) updateVariable(r *http.Request, u *schema.VariableUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), variableOrNotFound(a.store.UpdateVariable(r.Context(), id, *u))
}

func (a *API) updateVariableByName(r *http.Request, u *schema.VariableUpdate) (response, error) {
	name := r.PathValue("name")
	if !storableVariableName(name) {
		return response{}, variableNotFound
	}
	return noContent(), variableOrNotFound(a.store.UpdateVariableByName(r.Context(), name, *u))
}

func (a *API) deleteVariable(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), variableOrNotFound(a.store.DeleteVariable(r.Context(), id))
}

func (a *API) deleteVariableByName(r *http.Request, _ *none) (response, error) {
	name := r.PathValue("name")
	if !storableVariableName(name) {
		return response{}, variableNotFound
	}
	return noContent(), variableOrNotFound(a.store.DeleteVariableByName(r.Context(), name))
}
