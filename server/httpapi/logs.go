package httpapi

import (
	"net/http"
	"strconv"

	"prefectgo.dev/prefectgo/server/schema"
)

// logBatch is the body of POST /logs/: a list of log lines.
type logBatch []schema.LogCreate

// Validate checks every line, naming the first bad one by index.
func (b logBatch) Validate() error {
	for i := range b {
		if err := b[i].Validate(); err != nil {
			if v, ok := err.(*schema.ValidationError); ok {
				return schema.Invalid(strconv.Itoa(i)+"."+v.Loc, v.Msg)
			}
			return err
		}
	}
	return nil
}

func (a *API) createLogs(r *http.Request, logs *logBatch) (response, error) {
	if err := a.store.CreateLogs(r.Context(), *logs); err != nil {
		return response{}, err
	}
	return created(nil), nil
}

func (a *API) filterLogs(r *http.Request, q *schema.LogQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	logs, err := a.store.FilterLogs(r.Context(), *q)
	return ok(logs), err
}
