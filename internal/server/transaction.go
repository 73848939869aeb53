package server

import (
	"context"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"clnd/ent"
	"clnd/internal/apperr"
	"clnd/internal/store"
)

// outsideTransaction are the mutations that manage their own writes: a
// failed login must still be recorded for rate limiting, check-ins are
// written in batches by the check-in service, a billing run commits each
// reseller's invoice on its own, and the mutations that call a payment
// provider commit their payment attempt before the call and record its
// answer after (internal/accounts/settle.go).
var outsideTransaction = map[string]bool{
	"login": true, "checkIn": true, "runBilling": true,
	"registerReseller": true, "addPaymentMethod": true, "topUp": true, "startCheckout": true, "refund": true, "settlePaymentAttempts": true,
}

// transactioner runs every mutation operation in one database transaction,
// committed only when no field failed, so a failed mutation changes nothing.
// (entgql's Transactioner does the same, but panics on the websocket
// transport's second, empty response, and shows driver text on a failed
// commit.)
type transactioner struct {
	s *Server
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = transactioner{}

func (transactioner) ExtensionName() string                   { return "Transactioner" }
func (transactioner) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses documents that mix a self-managed mutation
// with others (they cannot share one transaction) and serialises the fields
// of a transactional operation, which share one connection.
func (t transactioner) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	fields := rootFields(oc.Operation.SelectionSet)
	managed := 0
	for _, name := range fields {
		if outsideTransaction[name] {
			managed++
		}
	}
	if managed > 0 && len(fields) > 1 {
		err := gqlerror.Errorf("%s must be the only field of its mutation", strings.Join(managedIn(fields), ", "))
		err.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
		return err
	}
	if managed > 0 {
		return nil
	}
	previous := oc.ResolverMiddleware
	var mu sync.Mutex
	oc.ResolverMiddleware = func(ctx context.Context, next graphql.Resolver) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return previous(ctx, next)
	}
	return nil
}

// answered marks, in an operation's stats, that its transaction has run: the
// websocket and SSE transports ask again after the answer, and must get
// nothing more, not a second transaction.
const answered = "clnd.transaction.answered"

func (t transactioner) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx) // a request that never parsed: its error needs no transaction
	}
	oc := graphql.GetOperationContext(ctx)
	op := oc.Operation
	if op == nil || op.Operation != ast.Mutation || onlyManaged(op) || oc.Stats.GetExtension(answered) != nil {
		return next(ctx)
	}
	oc.Stats.SetExtension(answered, true)
	tx, err := t.s.db.Client.Tx(ctx)
	if err != nil {
		return t.fail(ctx, err)
	}
	ctx = ent.NewTxContext(ctx, tx)
	ctx = ent.NewContext(ctx, tx.Client())
	defer func() {
		if r := recover(); r != nil {
			t.rollback(ctx, tx)
			panic(r)
		}
	}()
	rsp := next(ctx)
	if rsp == nil || len(rsp.Errors) > 0 {
		t.rollback(ctx, tx)
		if rsp == nil {
			return nil
		}
		return &graphql.Response{Errors: rsp.Errors}
	}
	if err := tx.Commit(); err != nil {
		if store.NotAnswered(ctx, err) {
			// The COMMIT was sent and not answered: it may have been
			// applied, and "retry later" would apply it twice.
			t.s.metrics.errors.WithLabelValues(string(apperr.Unavailable)).Inc()
			return &graphql.Response{Errors: gqlerror.List{{Message: commitUnknownMessage,
				Extensions: map[string]any{"code": string(apperr.Unavailable)}}}}
		}
		return t.fail(ctx, err)
	}
	return rsp
}

// commitUnknownMessage answers a mutation whose COMMIT the database did not
// confirm.
const commitUnknownMessage = "the database did not confirm the mutation's commit: it may have been done; " +
	"retry it with the same idempotency key, or check before sending it again"

func (t transactioner) rollback(ctx context.Context, tx *ent.Tx) {
	if err := tx.Rollback(); err != nil {
		t.s.log.ErrorContext(ctx, "rolling back a mutation", "err", err)
	}
}

// fail answers a transaction that could not begin or commit, through the
// error presenter (INTERNAL, logged with the request id).
func (t transactioner) fail(ctx context.Context, err error) *graphql.Response {
	return &graphql.Response{Errors: gqlerror.List{t.s.presentError(ctx, err)}}
}

func managedIn(fields []string) []string {
	var out []string
	for _, f := range fields {
		if outsideTransaction[f] {
			out = append(out, f)
		}
	}
	return out
}

func onlyManaged(op *ast.OperationDefinition) bool {
	fields := rootFields(op.SelectionSet)
	return len(fields) == 1 && outsideTransaction[fields[0]]
}

// rootFields names the top-level fields of a selection, through fragments.
func rootFields(set ast.SelectionSet) []string {
	var out []string
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			out = append(out, s.Name)
		case *ast.InlineFragment:
			out = append(out, rootFields(s.SelectionSet)...)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				out = append(out, rootFields(s.Definition.SelectionSet)...)
			}
		}
	}
	return out
}
