package store

import "errors"

// ErrTimeout says a statement ran past PREFECT_SERVER_DATABASE_TIMEOUT and
// was cancelled.
var ErrTimeout = errors.New("database statement timed out")

// ErrUnavailable says the database could not be reached or is busy; a client
// may retry.
var ErrUnavailable = errors.New("database unavailable")

// UnavailableError is ErrUnavailable with its cause: a condition of the
// database or its host (a full disk, a server shutting down, a lost
// connection) rather than of the request, so the same request may succeed
// later. Reason is worded for clients; Err is the driver's error, for logs.
type UnavailableError struct {
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string {
	return "database unavailable: " + e.Reason + ": " + e.Err.Error()
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }
