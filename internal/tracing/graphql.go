package tracing

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// GraphQL is a gqlgen extension that makes each operation a span, named
// "query licenses" (type and operation name, or the type alone), under the
// request's span; the resolvers' SQL statements become its children. The
// document and its variables are never recorded (a login's variables hold
// a password); the error codes of a failed operation are.
//
// Add it before the other operation middleware, so that the span covers
// them too (a mutation's transaction commits inside it).
type GraphQL struct{}

var (
	_ graphql.HandlerExtension     = GraphQL{}
	_ graphql.OperationInterceptor = GraphQL{}
)

func (GraphQL) ExtensionName() string                   { return "OpenTelemetry" }
func (GraphQL) Validate(graphql.ExecutableSchema) error { return nil }
func (GraphQL) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	kind, name := "", op.OperationName
	if op.Operation != nil {
		kind = string(op.Operation.Operation)
		if name == "" {
			name = op.Operation.Name
		}
	}
	attrs := []attribute.KeyValue{semconv.GraphQLOperationTypeKey.String(kind)}
	spanName := kind
	if name != "" {
		attrs = append(attrs, semconv.GraphQLOperationName(name))
		spanName = kind + " " + name
	}
	ctx, span := tracer().Start(ctx, spanName, trace.WithAttributes(attrs...))
	responses := next(ctx)
	if kind == string(ast.Subscription) {
		// A subscription lives as long as its client: the span covers its
		// start (authorisation, the first reads); later events are not in it.
		span.End()
		return responses
	}
	ended := false
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if !ended {
			ended = true
			if resp != nil && len(resp.Errors) > 0 {
				span.SetStatus(codes.Error, errorCodes(resp))
			}
			span.End()
		}
		return resp
	}
}

// errorCodes lists a response's distinct extensions.code values (never the
// messages, which may quote input).
func errorCodes(resp *graphql.Response) string {
	var seen []string
	for _, e := range resp.Errors {
		code := fmt.Sprint(e.Extensions["code"])
		if e.Extensions["code"] == nil {
			code = "UNKNOWN"
		}
		found := false
		for _, s := range seen {
			found = found || s == code
		}
		if !found {
			seen = append(seen, code)
		}
	}
	return strings.Join(seen, ",")
}
