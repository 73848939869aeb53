package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"clnd/internal/apperr"
	"clnd/internal/viewer"
)

// authorize is the one check of who may call a root field: every field needs
// a caller unless the schema marks it @public, @operator fields need an
// operator, and mutations need a caller allowed to write (a READ API token is
// not). What a caller may then see is the ent privacy layer's business.
func authorize(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Definition == nil {
		return next(ctx)
	}
	switch fc.Object {
	case "Query", "Mutation", "Subscription":
	default:
		return next(ctx)
	}
	def := fc.Field.Definition
	// The schema is no secret: introspection (GraphiQL, code generators)
	// works without a token.
	if def.Directives.ForName("public") != nil || strings.HasPrefix(def.Name, "__") {
		return next(ctx)
	}
	v := viewer.FromContext(ctx)
	switch {
	case v.Role != viewer.Operator && v.Role != viewer.Reseller:
		return nil, apperr.ErrUnauthenticated
	case def.Directives.ForName("operator") != nil && v.Role != viewer.Operator:
		return nil, apperr.ErrOperatorOnly
	case fc.Object == "Mutation" && !v.CanWrite():
		return nil, apperr.ErrReadOnlyToken
	}
	return next(ctx)
}
