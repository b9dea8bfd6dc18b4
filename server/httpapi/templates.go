package httpapi

import (
	"net/http"

	"prefectgo.dev/prefectgo/server/templates"
)

// templateBody is the body of POST /templates/validate: a JSON string
// (FastAPI's Body(default="")), so an absent body is the empty template.
type templateBody string

// EmbeddedBody: FastAPI reads a single Body(...) with a default as the
// whole body, and takes an absent one as its default.
func (templateBody) EmbeddedBody() {}

// validateTemplate answers 204 for a template the automations can render,
// else 422 with the line and message, as Prefect's validate_template does.
func (a *API) validateTemplate(r *http.Request, t *templateBody) (response, error) {
	if err := templates.Validate(string(*t)); err != nil {
		return response{Status: http.StatusUnprocessableEntity, Body: map[string]any{"error": map[string]any{
			"line": err.Line, "message": err.Message, "source": string(*t)}}}, nil
	}
	return noContent(), nil
}
