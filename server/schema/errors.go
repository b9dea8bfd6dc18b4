package schema

import (
	"errors"
	"strconv"
)

// ErrNotFound is returned when a requested object does not exist.
var ErrNotFound = errors.New("not found")

// ValidationError says what is wrong with one field of a request. The HTTP
// layer renders it in Prefect's 422 shape.
type ValidationError struct {
	Loc string // dotted path of the field, e.g. "state.type"
	Msg string
}

func (e *ValidationError) Error() string { return e.Loc + ": " + e.Msg }

// Invalid builds a ValidationError.
func Invalid(loc, msg string) error { return &ValidationError{Loc: loc, Msg: msg} }

// ConflictError is a request that collides with existing data (HTTP 409).
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

func quote(s string) string { return strconv.Quote(s) }

// BadRequestError is a request that is well-formed but cannot be applied
// (HTTP 400 with {"detail": Msg}), as Prefect answers a ValueError.
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

// ForbiddenError is an operation the server refuses (HTTP 403), such as
// deleting a protected block type.
type ForbiddenError struct{ Msg string }

func (e *ForbiddenError) Error() string { return e.Msg }
