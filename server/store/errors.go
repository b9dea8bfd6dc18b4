package store

import "errors"

// ErrTimeout says a statement ran past PREFECT_SERVER_DATABASE_TIMEOUT and
// was cancelled.
var ErrTimeout = errors.New("database statement timed out")

// ErrUnavailable says the database could not be reached or is busy; a client
// may retry.
var ErrUnavailable = errors.New("database unavailable")
