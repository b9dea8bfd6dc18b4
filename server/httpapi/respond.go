package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// response is what an endpoint answers: a status and a JSON body (none when
// Body is nil and Status is 204).
type response struct {
	Status int
	Body   any
}

// jsonNull is the body of Prefect's routes that return None.
var jsonNull = json.RawMessage("null")

func ok(body any) response      { return response{http.StatusOK, body} }
func created(body any) response { return response{http.StatusCreated, body} }
func noContent() response       { return response{Status: http.StatusNoContent} }

// createdOr is 201 when a row was created and 200 when an existing one was
// returned, as Prefect's upserts answer.
func createdOr(isNew bool, body any) response {
	if isNew {
		return created(body)
	}
	return ok(body)
}

// apiError is an error with its HTTP status and Prefect-shaped body, and
// any headers to send with it (Retry-After on a 423).
type apiError struct {
	Status int
	Body   any
	Header http.Header
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %v", e.Status, e.Body) }

// detail builds the {"detail": ...} error body FastAPI's HTTPException uses.
func detail(status int, msg string) error {
	return &apiError{Status: status, Body: map[string]string{"detail": msg}}
}

func notFound(what string) error { return detail(http.StatusNotFound, what+" not found") }

// validationDetail is one entry of exception_detail, as pydantic reports it.
type validationDetail struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// invalid builds Prefect's 422 body for a request that failed validation.
func invalid(loc []string, msg, typ string, body []byte) error {
	return invalidBody(loc, msg, typ, body)
}

func invalidBody(loc []string, msg, typ string, body []byte) *apiError {
	var echo any
	if len(body) > 0 && json.Valid(body) && len(body) < 64<<10 {
		echo = json.RawMessage(body)
	} else if len(body) > 0 && len(body) < 64<<10 {
		echo = string(body)
	}
	return &apiError{Status: http.StatusUnprocessableEntity, Body: map[string]any{
		"exception_message": "Invalid request received.",
		"exception_detail":  []validationDetail{{Loc: loc, Msg: msg, Type: typ}},
		"request_body":      echo,
	}}
}

// internalError is Prefect's body of a 500.
var internalError = []byte(`{"exception_message":"Internal Server Error"}` + "\n")

// writeJSON writes one JSON response. The body is encoded before the status
// goes out: a value that cannot be encoded (a time past year 9999) becomes a
// 500 with Prefect's body, returned as the error for the caller to log,
// instead of a success status with an empty or truncated body.
func writeJSON(w http.ResponseWriter, status int, body any) error {
	var buf bytes.Buffer
	var err error
	if body != nil {
		if err = json.NewEncoder(&buf).Encode(body); err != nil {
			err = fmt.Errorf("encoding the %d response: %w", status, err)
			status = http.StatusInternalServerError
			buf.Reset()
			buf.Write(internalError)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return err
}

// writeError maps an error to its status and Prefect's body. Anything
// unexpected is a 500 whose detail goes only to the log.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var api *apiError
	var verr *schema.ValidationError
	var conflict *schema.ConflictError
	var badRequest *schema.BadRequestError
	var forbidden *schema.ForbiddenError
	var named *schema.NotFoundError
	status, body := http.StatusInternalServerError, any(map[string]string{"exception_message": "Internal Server Error"})
	detail := func(code int, msg string) { status, body = code, map[string]string{"detail": msg} }
	switch {
	case errors.As(err, &api):
		for k, vs := range api.Header {
			w.Header()[k] = vs
		}
		status, body = api.Status, api.Body
	case errors.As(err, &verr):
		e := invalidBody(append([]string{"body"}, splitLoc(verr.Loc)...), verr.Msg, "value_error", nil)
		status, body = e.Status, e.Body
	case errors.As(err, &named):
		detail(http.StatusNotFound, named.Detail)
	case errors.Is(err, schema.ErrNotFound):
		detail(http.StatusNotFound, "Not found")
	case errors.As(err, &conflict):
		detail(http.StatusConflict, conflict.Msg)
	case errors.As(err, &badRequest):
		detail(http.StatusBadRequest, badRequest.Msg)
	case errors.As(err, &forbidden):
		detail(http.StatusForbidden, forbidden.Msg)
	case errors.Is(err, store.ErrTimeout):
		log.Warn("database statement timed out", "method", r.Method, "path", r.URL.Path, "error", err)
		status, body = http.StatusServiceUnavailable, map[string]string{
			"exception_message": "Service Unavailable",
			"detail":            "The database did not answer within PREFECT_SERVER_DATABASE_TIMEOUT; the statement was cancelled.",
		}
	case errors.Is(err, store.ErrUnavailable):
		log.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		reason := "the database is unavailable"
		var cause *store.UnavailableError
		if errors.As(err, &cause) {
			reason = cause.Reason
		}
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		status, body = http.StatusServiceUnavailable, map[string]string{
			"exception_message": "Service Unavailable",
			"detail":            "Database unavailable: " + reason + "; retry later.",
		}
	default:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if err := writeJSON(w, status, body); err != nil {
		log.Error("response not sent", "method", r.Method, "path", r.URL.Path, "error", err)
	}
}

// writeMessage answers with a one-key body such as {"detail": msg}. A map
// of strings always encodes, so there is no error to report.
func writeMessage(w http.ResponseWriter, status int, key, msg string) {
	_ = writeJSON(w, status, map[string]string{key: msg})
}

// unavailableRetryAfter is the Retry-After (seconds) of a 503 for an
// unavailable database. Prefect's client honours it for up to
// PREFECT_CLIENT_MAX_RETRIES (5) retries: 10s each spans a database restart
// or a disk being cleared without hammering the server meanwhile.
const unavailableRetryAfter = 10

func splitLoc(loc string) []string {
	if loc == "" {
		return nil // an error about the whole body
	}
	var out []string
	start := 0
	for i := 0; i < len(loc); i++ {
		if loc[i] == '.' {
			out = append(out, loc[start:i])
			start = i + 1
		}
	}
	return append(out, loc[start:])
}
