package server

import (
	"context"
	"encoding/json"
	"strconv"
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
// every field occurrence (each alias is one) at its weight and multiplies a
// connection's children by its page size (first/last, or the default), so
// `first: 100` four levels down is expensive and a flat query is cheap.
// Each fragment is measured once, however often it is spread, and the walk
// stops at the first limit crossed: the check is linear in the document.
type queryLimits struct {
	maxDepth      int
	maxComplexity int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = queryLimits{}

func (queryLimits) ExtensionName() string                   { return "QueryLimits" }
func (queryLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l queryLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measure{vars: oc.Variables, maxCost: l.maxComplexity, fragments: map[*ast.FragmentDefinition]extent{}}
	e := m.selection(oc.Operation.SelectionSet)
	switch {
	case e.cost > l.maxComplexity:
		return tooComplex("the query's estimated cost is over %d, the limit (ask for smaller pages, fewer nested lists or fewer summaries)", l.maxComplexity)
	case m.badPage != nil:
		return m.badPage
	case e.depth > l.maxDepth:
		return tooComplex("the query is nested %d levels deep; the limit is %d", e.depth, l.maxDepth)
	}
	return nil
}

func tooComplex(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(apperr.QueryTooComplex)}
	return err
}

// Weights of the fields that run statements of their own each time they
// resolve; every other field (a column, an edge loaded with its page, a value
// computed in memory) weighs 1.
const (
	// aggregateWeight is a field computed by aggregate statements over a
	// reseller's licenses, accounts and backups: one operation can ask for
	// 200 of them (a page of 100 resellers with their summaries fits, a
	// thousand aliased summaries do not).
	aggregateWeight = 250
	// lookupWeight is a field that reads one row by id.
	lookupWeight = 10
)

// fieldWeights holds every field with a resolver that runs statements
// (TestEveryComputedFieldHasAWeight keeps it complete).
var fieldWeights = map[string]int{
	"Reseller.summary":     aggregateWeight,
	"Query.accountSummary": aggregateWeight,
	"CheckIn.license":      lookupWeight,
	"CheckIn.server":       lookupWeight,
}

// extent is the cost of a selection set and how many levels of fields
// (introspection aside) it nests.
type extent struct {
	cost  int
	depth int
}

type measure struct {
	vars      map[string]any
	maxCost   int
	fragments map[*ast.FragmentDefinition]extent
	badPage   *gqlerror.Error
}

// selection measures a selection set. Costs saturate just above maxCost, so
// nothing overflows and a walk that crossed the limit stops.
func (m *measure) selection(set ast.SelectionSet) extent {
	var total extent
	for _, sel := range set {
		if total.cost > m.maxCost {
			break
		}
		var e extent
		switch s := sel.(type) {
		case *ast.Field:
			children := m.selection(s.SelectionSet)
			e.cost = m.saturate(fieldWeight(s) + children.cost*m.fanout(s))
			// Introspection is deep by nature (GraphiQL's schema query nests
			// ofType seven times) but not unbounded: it costs like any field,
			// it just does not count toward the depth limit, nor does
			// anything below it.
			if !strings.HasPrefix(s.Name, "__") {
				e.depth = 1 + children.depth
			}
		case *ast.InlineFragment:
			e = m.selection(s.SelectionSet)
		case *ast.FragmentSpread:
			e = m.fragment(s.Definition)
		}
		total.cost = m.saturate(total.cost + e.cost)
		total.depth = max(total.depth, e.depth)
	}
	return total
}

// fragment measures a fragment definition once per operation: its cost and
// depth do not depend on where it is spread.
func (m *measure) fragment(def *ast.FragmentDefinition) extent {
	if def == nil {
		return extent{}
	}
	if e, ok := m.fragments[def]; ok {
		return e
	}
	e := m.selection(def.SelectionSet)
	m.fragments[def] = e
	return e
}

func (m *measure) saturate(cost int) int { return min(cost, m.maxCost+1) }

func fieldWeight(f *ast.Field) int {
	if f.ObjectDefinition != nil {
		if w, ok := fieldWeights[f.ObjectDefinition.Name+"."+f.Name]; ok {
			return w
		}
	}
	return 1
}

// fanout is how many times a field's children are expected to be resolved.
func (m *measure) fanout(f *ast.Field) int {
	if f.Definition == nil {
		return 1
	}
	if isConnection(f.Definition) {
		return m.pageSize(f)
	}
	if f.Definition.Type.Elem != nil {
		if f.ObjectDefinition != nil && strings.HasSuffix(f.ObjectDefinition.Name, "Connection") {
			return 1 // a connection's edges: its page size already counted them
		}
		return listFanout
	}
	return 1
}

// pageSize checks a connection's first/last and returns its page size. The
// cached document always has first or last (pageSizeCache adds first: 20),
// but a variable may still be null or missing: then the variable is given
// the default here, so that no resolver or eager loader sees an unbounded page.
func (m *measure) pageSize(f *ast.Field) int {
	var given []*ast.Argument
	size := -1
	for _, name := range []string{"first", "last"} {
		arg := f.Arguments.ForName(name)
		if arg == nil {
			continue
		}
		given = append(given, arg)
		v, err := arg.Value.Value(m.vars)
		if err != nil || v == nil {
			continue
		}
		// A string is not an Int, whatever gqlparser's variable coercion let
		// through ("100000" would otherwise count as 0 here and load 100,000 rows).
		n, ok := asInt(v)
		if !ok || n < 0 || n > MaxPageSize {
			m.badPage = gqlerror.Errorf("%s must be between 0 and %d", name, MaxPageSize)
			m.badPage.Extensions = map[string]any{"code": string(apperr.BadUserInput), "field": name}
			return DefaultPageSize
		}
		size = n
	}
	if size >= 0 {
		return size
	}
	for _, arg := range given {
		if arg.Value.Kind == ast.Variable && m.vars != nil {
			m.vars[arg.Value.Raw] = int64(DefaultPageSize)
			return DefaultPageSize
		}
	}
	m.badPage = gqlerror.Errorf("first and last cannot both be null")
	m.badPage.Extensions = map[string]any{"code": string(apperr.BadUserInput), "field": "first"}
	return DefaultPageSize
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
		return int(n), n == float64(int(n))
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

// pageSizeCache stores parsed queries after giving every connection field
// without first/last an explicit `first: 20`. Doing it to the document, once,
// before anything executes, means the resolvers and entgql's eager loading
// of nested connections see the same bounded page; nothing can load a whole
// table because a client left out `first`. gqlgen adds a document to the
// cache right after validating it and before its first execution, and never
// changes a cached document afterwards.
type pageSizeCache struct {
	graphql.Cache[*ast.QueryDocument]
}

func (c pageSizeCache) Add(ctx context.Context, key string, doc *ast.QueryDocument) {
	for _, op := range doc.Operations {
		defaultPageSizes(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		defaultPageSizes(f.SelectionSet)
	}
	c.Cache.Add(ctx, key, doc)
}

func defaultPageSizes(set ast.SelectionSet) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition != nil && isConnection(s.Definition) &&
				s.Arguments.ForName("first") == nil && s.Arguments.ForName("last") == nil {
				s.Arguments = append(s.Arguments, &ast.Argument{
					Name:  "first",
					Value: &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(DefaultPageSize)},
				})
			}
			defaultPageSizes(s.SelectionSet)
		case *ast.InlineFragment:
			defaultPageSizes(s.SelectionSet)
		}
	}
}
