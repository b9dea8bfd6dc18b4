package httpapi

import (
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
)

func (a *API) health(*http.Request, *none) (response, error) { return ok(true), nil }

// ready answers 503 while the database does not answer.
func (a *API) ready(r *http.Request, _ *none) (response, error) {
	if err := a.store.Ping(r.Context()); err != nil {
		a.log.Warn("readiness check failed", "error", err)
		return response{http.StatusServiceUnavailable, map[string]string{"message": "Database is not available"}}, nil
	}
	return ok(map[string]string{"message": "OK"}), nil
}

func (a *API) apiVersion(*http.Request, *none) (response, error)    { return ok(APIVersion), nil }
func (a *API) hello(*http.Request, *none) (response, error)         { return ok("👋"), nil }
func (a *API) serverVersion(*http.Request, *none) (response, error) { return ok(Version), nil }

// adminSettings returns the effective settings, secrets redacted, nested as
// Prefect's settings model is, which is where its UIs read them:
// server.analytics_enabled decides whether the V2 UI sends usage events to
// Amplitude (a missing value counts as true), and the V1 UI looks for
// PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT at the top, which Prefect's
// shape never has, so its promotions and its community pop-up stay hidden
// as they do with Prefect's server.
func (a *API) adminSettings(*http.Request, *none) (response, error) {
	return ok(settings.Tree(a.settings)), nil
}

// adminStorage is the server's default result storage: the block document
// clients keep results in, null when none is set (they keep them locally).
func (a *API) adminStorage(r *http.Request, _ *none) (response, error) {
	id, err := a.store.DefaultResultStorage(r.Context())
	return ok(schema.ResultStorage{BlockDocumentID: id}), err
}

// setAdminStorage sets it to a block document whose schema writes paths:
// 404 for an unknown document, 422 for one that cannot store results.
func (a *API) setAdminStorage(r *http.Request, req *schema.ResultStorage) (response, error) {
	err := a.store.SetDefaultResultStorage(r.Context(), *req.BlockDocumentID)
	var bad *schema.BadRequestError
	switch {
	case isNotFound(err):
		return response{}, detail(http.StatusNotFound, "Block document "+req.BlockDocumentID.String()+" not found.")
	case errors.As(err, &bad):
		return response{}, detail(http.StatusUnprocessableEntity, bad.Msg)
	case err != nil:
		return response{}, err
	}
	return ok(*req), nil
}

func (a *API) clearAdminStorage(r *http.Request, _ *none) (response, error) {
	return noContent(), a.store.ClearDefaultResultStorage(r.Context())
}

// csrfToken issues a token when CSRF protection is on; otherwise it answers
// with the exact text clients look for to switch CSRF handling off.
func (a *API) csrfToken(r *http.Request, _ *none) (response, error) {
	if !a.settings.API.CSRFProtectionEnabled {
		return response{}, detail(http.StatusUnprocessableEntity, "CSRF protection is disabled.")
	}
	client := r.URL.Query().Get("client")
	if client == "" {
		return response{}, invalid([]string{"query", "client"}, "Field required", "missing", nil)
	}
	t, err := a.store.IssueCSRFToken(r.Context(), client, a.clock().Add(a.settings.API.CSRFTokenExpiration))
	if err != nil {
		return response{}, err
	}
	return ok(t), nil
}
