package httpapi

import (
	"net/http"

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

// adminStorage reports no server-side default result storage: clients then
// keep results in their own local storage, as with a fresh Python server.
func (a *API) adminStorage(*http.Request, *none) (response, error) {
	return ok(map[string]any{"default_result_storage_block_id": nil}), nil
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
