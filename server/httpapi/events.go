package httpapi

import (
	"errors"
	"net/http"

	"prefectgo.dev/prefectgo/server/events"
)

// rawBody keeps a request body as sent, for endpoints that validate it
// themselves (POST /events measures each event's size as received).
type rawBody []byte

func (b *rawBody) UnmarshalJSON(data []byte) error {
	*b = append((*b)[:0], data...)
	return nil
}

// createEvents accepts a batch of events: all valid, or none is taken.
func (a *API) createEvents(r *http.Request, body *rawBody) (response, error) {
	if a.ingest == nil {
		return response{}, detail(http.StatusServiceUnavailable, "event ingestion is not running")
	}
	if err := a.ingest(r.Context(), *body); err != nil {
		var bad *events.InvalidEventError
		if errors.As(err, &bad) {
			return response{}, invalid([]string{"body"}, bad.Error(), "value_error", nil)
		}
		return response{}, err
	}
	return noContent(), nil
}
