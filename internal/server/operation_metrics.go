package server

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// maxOperationNames bounds the operation label: operation names are chosen
// by clients, and every name is a set of series kept for the process's life.
const maxOperationNames = 200

// maxOperationNameLength keeps one client's very long names from costing
// memory in every scrape.
const maxOperationNameLength = 100

// operationNames admits the first maxOperationNames names it sees as label
// values; later ones are "other".
type operationNames struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (n *operationNames) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if len(name) > maxOperationNameLength {
		return "other"
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen[name] {
		return name
	}
	if len(n.seen) >= maxOperationNames {
		return "other"
	}
	n.seen[name] = true
	return name
}

// operationTimer times each query and mutation into
// clnd_graphql_operation_duration_seconds. It is the outermost operation
// interceptor, so compiled reads (which answer without gqlgen's executor)
// are timed as well. A subscription has no single duration and is not timed.
type operationTimer struct{ m *metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = operationTimer{}

func (operationTimer) ExtensionName() string                   { return "OperationMetrics" }
func (operationTimer) Validate(graphql.ExecutableSchema) error { return nil }
func (t operationTimer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	start := oc.Stats.OperationStart
	if start.IsZero() {
		start = time.Now()
	}
	name := t.m.operationNames.label(oc.Operation.Name)
	kind := string(oc.Operation.Operation)
	respond := next(ctx)
	timed := false
	return func(ctx context.Context) *graphql.Response {
		resp := respond(ctx)
		if !timed {
			timed = true
			t.m.operations.WithLabelValues(name, kind).Observe(time.Since(start).Seconds())
		}
		return resp
	}
}
