package server

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"clnd/ent"
	"clnd/ent/schema"
	"clnd/internal/apperr"
	"clnd/internal/money"
	"clnd/internal/reqinfo"
	"clnd/internal/store"
)

// presentError is the one place an error becomes what a client sees: a code
// from API.md's set, a message for humans, and for BAD_USER_INPUT the input
// field. Anything unrecognised is logged with the request id and shown as
// INTERNAL, so SQL, stack traces and other tenants' data never leak.
func (s *Server) presentError(ctx context.Context, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	if cancelledByCaller(ctx, err) {
		// The client completed the operation, closed its socket or went
		// away, or the server is stopping: no fault of this server, and
		// nobody but a stopping server's client reads the answer. Not
		// logged as an error nor counted among the errors returned.
		s.log.DebugContext(ctx, "operation cancelled", "path", gqlErr.Path.String(), "err", err)
		gqlErr.Message = cancelledMessage
		gqlErr.Extensions = map[string]any{"code": string(apperr.Unavailable)}
		return gqlErr
	}
	code, message, field := s.classify(ctx, err, gqlErr)
	if code == apperr.Internal {
		id := reqinfo.FromContext(ctx).ID
		s.log.ErrorContext(ctx, "internal error", "path", gqlErr.Path.String(), "err", err)
		message = fmt.Sprintf("internal error (request %s)", id)
	}
	gqlErr.Message = message
	gqlErr.Extensions = map[string]any{"code": string(code)}
	if field != "" {
		gqlErr.Extensions["field"] = field
	}
	if e, ok := apperr.As(err); ok {
		for k, v := range e.Extensions {
			if k != "code" && k != "field" {
				gqlErr.Extensions[k] = v
			}
		}
	}
	s.metrics.errors.WithLabelValues(string(code)).Inc()
	return gqlErr
}

func (s *Server) classify(ctx context.Context, err error, gqlErr *gqlerror.Error) (apperr.Code, string, string) {
	if e, ok := apperr.As(err); ok {
		field := e.Field
		if field == "" && e.Code == apperr.BadUserInput {
			field = lastPathKey(gqlErr.Path)
		}
		return e.Code, e.Message, field
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, errPanic) {
		// The request's own deadline (withDeadline) passed: whatever its
		// statements then returned (the context's error, the driver's
		// cancellation), the database did not answer in time.
		s.log.WarnContext(ctx, "request deadline passed", "path", gqlErr.Path.String(), "err", err)
		return apperr.Unavailable, deadlineMessage, ""
	}
	var validation *ent.ValidationError
	switch {
	case errors.Is(err, money.ErrInvalid):
		return apperr.BadUserInput, err.Error(), lastPathKey(gqlErr.Path)
	case ent.IsNotFound(err):
		return apperr.NotFound, "not found", ""
	case errors.As(err, &validation):
		return apperr.BadUserInput, "invalid value for " + validation.Name, validation.Name
	case ent.IsConstraintError(err):
		return apperr.Conflict, "this conflicts with an existing record", ""
	case errors.Is(err, schema.ErrNoViewer):
		return apperr.Unauthenticated, apperr.ErrUnauthenticated.Message, ""
	case errors.Is(err, schema.ErrReadOnly):
		return apperr.Forbidden, apperr.ErrForbidden.Message, ""
	case store.Unavailable(err):
		// Not an error of this request: the outage is logged by what
		// noticed it (the check-in writer, the LISTEN bridge) and counted
		// in clnd_graphql_errors_total; one line per request would flood.
		if store.IsDeadlock(err) {
			// Retried where it is expected, so one that gets here is
			// worth a look: a new lock-order cycle.
			s.log.WarnContext(ctx, "deadlock", "path", gqlErr.Path.String(), "err", err)
		} else {
			s.log.DebugContext(ctx, "database unavailable", "reason", store.UnavailableReason(err))
		}
		return apperr.Unavailable, unavailableMessage, ""
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apperr.Internal, "", ""
	}
	// A field whose arguments failed to decode (a malformed cursor, say)
	// never got its Args: the caller sent bad input.
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Args == nil && len(fc.Field.Arguments) > 0 && gqlErr.Extensions == nil {
		return apperr.BadUserInput, gqlErr.Message, lastPathKey(gqlErr.Path)
	}
	// Errors already carrying a code of API.md's set (clnd's extensions,
	// entgql's node lookups) keep it.
	if code, ok := gqlErr.Extensions["code"].(string); ok && apiCodes[apperr.Code(code)] {
		field, _ := gqlErr.Extensions["field"].(string)
		return apperr.Code(code), gqlErr.Message, field
	}
	// Errors gqlgen raised itself before any resolver ran.
	switch gqlErr.Extensions["code"] {
	case "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED":
		return apperr.BadUserInput, gqlErr.Message, lastPathKey(gqlErr.Path)
	case "COMPLEXITY_LIMIT_EXCEEDED", string(apperr.QueryTooComplex):
		return apperr.QueryTooComplex, gqlErr.Message, ""
	}
	if gqlErr.Err == nil && gqlErr.Extensions == nil {
		// A plain gqlerror from the executor (for example an unknown operation name).
		return apperr.BadUserInput, gqlErr.Message, ""
	}
	return apperr.Internal, "", ""
}

// cancelledByCaller reports whether err came of the cancellation of the
// operation's own context (by its client, or by the server stopping):
// whatever a statement then returned (the context's error, or the driver's
// own "canceling statement due to user request"), unless it is a panic or
// a coded error of clnd's.
func cancelledByCaller(ctx context.Context, err error) bool {
	if !errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, errPanic) {
		return false
	}
	_, coded := apperr.As(err)
	return !coded
}

// cancelledMessage answers an operation cancelled before it ended.
const cancelledMessage = "the operation was cancelled: retry it if it is still wanted"

// unavailableMessage answers a request that failed because the database
// could not be used.
const unavailableMessage = "the database cannot be reached right now: retry later"

var apiCodes = map[apperr.Code]bool{
	apperr.Unauthenticated: true, apperr.Forbidden: true, apperr.NotFound: true, apperr.BadUserInput: true,
	apperr.Conflict: true, apperr.LimitReached: true, apperr.PaymentRequired: true, apperr.PaymentFailed: true,
	apperr.IdempotencyConflict: true, apperr.RateLimited: true, apperr.QueryTooComplex: true, apperr.Unavailable: true,
	apperr.PersistedQueryNotFound: true,
}

// lastPathKey names the innermost input field of an argument error path.
func lastPathKey(path ast.Path) string {
	for i := len(path) - 1; i >= 0; i-- {
		if name, ok := path[i].(ast.PathName); ok {
			return string(name)
		}
	}
	return ""
}

// recoverPanic turns a resolver panic into an INTERNAL error, logged.
func (s *Server) recoverPanic(ctx context.Context, p any) error {
	s.log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
	return errPanic
}

// errPanic is a recovered panic: INTERNAL, even past the request's deadline.
var errPanic = errors.New("panic")
