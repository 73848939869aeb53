// Package apperr holds clnd's typed domain errors. Domain packages return
// them; the GraphQL error presenter turns them into extensions.code, so the
// mapping from rule to code is written once.
package apperr

import (
	"errors"
	"fmt"
)

// Code is an API error code (API.md section 1).
type Code string

const (
	Unauthenticated     Code = "UNAUTHENTICATED"
	Forbidden           Code = "FORBIDDEN"
	NotFound            Code = "NOT_FOUND"
	BadUserInput        Code = "BAD_USER_INPUT"
	Conflict            Code = "CONFLICT"
	LimitReached        Code = "LIMIT_REACHED"
	PaymentRequired     Code = "PAYMENT_REQUIRED"
	PaymentFailed       Code = "PAYMENT_FAILED"
	IdempotencyConflict Code = "IDEMPOTENCY_CONFLICT"
	RateLimited         Code = "RATE_LIMITED"
	QueryTooComplex     Code = "QUERY_TOO_COMPLEX"
	// PersistedQueryNotFound: a persisted query's hash the server does not
	// know; the client sends the query with its hash (Apollo's protocol).
	PersistedQueryNotFound Code = "PERSISTED_QUERY_NOT_FOUND"
	// Unavailable: the database or a payment provider cannot be reached;
	// retry later (for money: with the same idempotency key).
	Unavailable Code = "UNAVAILABLE"
	Internal    Code = "INTERNAL"
)

// Error is a domain error with an API code and a message fit for humans.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault, for BAD_USER_INPUT.
	Field string
	// Err is the underlying cause, kept for errors.Is and logs; never shown.
	Err error
	// Extensions are more facts for the client beside code and field
	// (a decline code, a 3-D Secure client secret); never internals.
	Extensions map[string]any
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is match two domain errors by code and message, so that
// sentinel values such as ErrUnauthenticated can be compared.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == e.Message
}

// New returns an error with a code and a message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Input is a BAD_USER_INPUT error about one input field.
func Input(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf says an object does not exist (or is another tenant's).
func NotFoundf(format string, args ...any) *Error {
	return New(NotFound, format, args...)
}

// Wrap attaches a cause to a domain error.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// As returns the domain error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

var (
	ErrUnauthenticated = New(Unauthenticated, "a valid bearer token is required")
	ErrForbidden       = New(Forbidden, "not allowed for this caller")
	ErrReadOnlyToken   = New(Forbidden, "this API token has the READ scope and cannot call mutations")
	ErrOperatorOnly    = New(Forbidden, "only an operator may do this")
)
