package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"clnd/internal/apperr"
)

// Page sizes of every connection field (API.md: default 20, maximum 100).
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// listFanout is the guess of how many elements a plain list field (one
// without first/last) returns, for the complexity estimate.
const listFanout = 5

// queryLimits refuses operations nested deeper than maxDepth or estimated to
// cost more than maxComplexity before any resolver runs. The estimate counts
// one per field and multiplies a connection's children by its page size
// (first/last, or the default), so `first: 100` four levels down is expensive
// and a flat query is cheap. Introspection fields are not counted: GraphiQL's
// schema query is deep by nature and reads no data.
type queryLimits struct {
	maxDepth      int
	maxComplexity int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = queryLimits{}

func (queryLimits) ExtensionName() string                  { return "QueryLimits" }
func (queryLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l queryLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measure{vars: oc.Variables}
	cost := m.selection(oc.Operation.SelectionSet, 1)
	switch {
	case m.depth > l.maxDepth:
		return tooComplex("the query is nested %d levels deep; the limit is %d", m.depth, l.maxDepth)
	case cost > l.maxComplexity:
		return tooComplex("the query's estimated cost is %d; the limit is %d (ask for smaller pages or fewer nested lists)", cost, l.maxComplexity)
	}
	return nil
}

func tooComplex(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(apperr.QueryTooComplex)}
	return err
}

type measure struct {
	vars  map[string]any
	depth int
}

func (m *measure) selection(set ast.SelectionSet, depth int) int {
	cost := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			if depth > m.depth {
				m.depth = depth
			}
			children := m.selection(s.SelectionSet, depth+1)
			cost += 1 + children*m.fanout(s)
		case *ast.InlineFragment:
			cost += m.selection(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				cost += m.selection(s.Definition.SelectionSet, depth)
			}
		}
	}
	return cost
}

// fanout is how many times a field's children are expected to be resolved.
func (m *measure) fanout(f *ast.Field) int {
	if f.Definition == nil {
		return 1
	}
	if isConnection(f.Definition) {
		for _, name := range []string{"first", "last"} {
			if arg := f.Arguments.ForName(name); arg != nil {
				if v, err := arg.Value.Value(m.vars); err == nil {
					if n, ok := asInt(v); ok && n > 0 {
						return n
					}
				}
			}
		}
		return DefaultPageSize
	}
	if f.Definition.Type.Elem != nil {
		return listFanout
	}
	return 1
}

func isConnection(def *ast.FieldDefinition) bool {
	return strings.HasSuffix(def.Type.Name(), "Connection") && def.Arguments.ForName("first") != nil
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}

// pageSizes gives every connection field the default page size and refuses
// pages over the maximum, so no resolver can return an unbounded list.
func pageSizes(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Definition == nil || !isConnection(fc.Field.Definition) || fc.Args == nil {
		return next(ctx)
	}
	first, _ := fc.Args["first"].(*int)
	last, _ := fc.Args["last"].(*int)
	for name, n := range map[string]*int{"first": first, "last": last} {
		if n == nil {
			continue
		}
		if *n < 0 || *n > MaxPageSize {
			return nil, apperr.Input(name, "%s must be between 0 and %d", name, MaxPageSize)
		}
	}
	if first == nil && last == nil {
		size := DefaultPageSize
		fc.Args["first"] = &size
	}
	return next(ctx)
}
