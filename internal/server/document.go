package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"clnd/internal/apperr"
)

// Bounds on a query document, checked before gqlgen validates it. Each is
// far above what a dashboard sends (GraphiQL's schema query: about 200 tokens,
// 3 fragments, 150 selections, no overlaps) and low enough that validating
// the largest document they allow takes milliseconds.
const (
	// MaxQueryTokens bounds the query text: names, punctuation and values.
	MaxQueryTokens = 20_000
	// MaxQueryFragments bounds the fragment definitions of a document.
	MaxQueryFragments = 200
	// MaxQuerySelections bounds the selections (fields, aliases included,
	// inline fragments and fragment spreads) validation visits: those of
	// every operation and every fragment definition, with each fragment
	// counted again wherever it is spread.
	MaxQuerySelections = 5_000
	// MaxQueryAliases bounds the aliased fields among those selections.
	// gqlgen gathers a selection set's fields by comparing each response
	// name with those before it, so a thousand aliases side by side are
	// half a million comparisons.
	MaxQueryAliases = 1_000
	// MaxQueryOverlaps bounds the pairs of selections that land at one place
	// of the result: fields with the same response name, and fragment
	// spreads. Validation compares each such pair.
	MaxQueryOverlaps = 10_000
	// MaxQueryListed bounds the operations of a document and each list of
	// variables, arguments, directives or input-object fields: validation
	// and gqlgen handle such lists in time that grows faster than their
	// length (6,000 fields of one input object took 70 ms). List values
	// (`ids: [...]`) are not bounded here.
	MaxQueryListed = 100
	// MaxQueryNameLength bounds every name: of fields, aliases, arguments,
	// types, fragments, variables and enum values. Validation suggests
	// names close to an unknown one by an edit distance, whose cost grows
	// with the product of the lengths.
	MaxQueryNameLength = 128
	// MaxQueryUnknownNames bounds the names of fields, arguments, types,
	// directives and enum values that the schema does not define. For each,
	// validation computes an edit distance to every name it could have
	// meant (every type of the schema, for a type).
	MaxQueryUnknownNames = 20
)

// documentLimits refuses documents that would make validation slow, before
// gqlgen parses and validates them. Validation is not linear in the text:
// gqlparser walks every fragment again from each operation and fragment that
// reaches it, and its OverlappingFieldsCanBeMerged rule compares every pair
// of fields that share a response name at one place, fragments expanded. A
// chain of fragments that each spread the next twice is a few kilobytes and
// expands to millions of fields; twenty thousand `__typename` are 200 million
// pairs. Long lists of variables or input fields, and long unknown names
// (validation suggests the names they are closest to), are slow too. The
// checks here look at each fragment once (its size is remembered), so they
// are linear in the document, and they bound what validation grows with.
// The document is parsed twice (here and by gqlgen); that is tens of
// microseconds for a real query, and milliseconds for the largest allowed.
// A document that passed is remembered (by its SHA-256) and not parsed here
// again: dashboards send the same few documents all day.
type documentLimits struct {
	// schemaNames holds every name the schema defines: types, fields,
	// arguments, input fields, enum values and directives.
	schemaNames map[string]bool
	// passed holds the hashes of documents that passed the checks.
	passed *lru.LRU[struct{}]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = &documentLimits{}

func (*documentLimits) ExtensionName() string { return "DocumentLimits" }

// Validate is called once, when the extension is added to the handler.
func (l *documentLimits) Validate(es graphql.ExecutableSchema) error {
	l.schemaNames = schemaNames(es.Schema())
	l.passed = lru.New[struct{}](1000)
	return nil
}

func schemaNames(schema *ast.Schema) map[string]bool {
	names := map[string]bool{"__typename": true, "__schema": true, "__type": true}
	for name, def := range schema.Types {
		names[name] = true
		for _, f := range def.Fields {
			names[f.Name] = true
			for _, a := range f.Arguments {
				names[a.Name] = true
			}
		}
		for _, v := range def.EnumValues {
			names[v.Name] = true
		}
	}
	for name, d := range schema.Directives {
		names[name] = true
		for _, a := range d.Arguments {
			names[a.Name] = true
		}
	}
	return names
}

func (l *documentLimits) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	sum := sha256.Sum256([]byte(params.Query))
	key := string(sum[:])
	if l.passed != nil {
		if _, ok := l.passed.Get(ctx, key); ok {
			return nil
		}
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, MaxQueryTokens)
	if err != nil {
		if e, ok := err.(*gqlerror.Error); ok && e.Message == tokenLimitMessage {
			return tooComplex("the query has more than %d tokens", MaxQueryTokens)
		}
		return nil // a syntax error: gqlgen's own parse reports it
	}
	if gerr := checkDocument(doc, l.schemaNames); gerr != nil {
		return gerr
	}
	if l.passed != nil {
		l.passed.Add(ctx, key, struct{}{})
	}
	return nil
}

// tokenLimitMessage is how gqlparser says a document is over the token limit.
var tokenLimitMessage = fmt.Sprintf("exceeded token limit of %d", MaxQueryTokens)

func checkDocument(doc *ast.QueryDocument, schemaNames map[string]bool) *gqlerror.Error {
	if len(doc.Fragments) > MaxQueryFragments {
		return tooComplex("the query defines %d fragments; the limit is %d", len(doc.Fragments), MaxQueryFragments)
	}
	shape := shapeCheck{schemaNames: schemaNames}
	if problem := shape.document(doc); problem != "" {
		return tooComplex("the query has %s", problem)
	}
	if len(shape.unknown) > MaxQueryUnknownNames {
		e := gqlerror.Errorf("the query names over %d fields, arguments, types, directives or values the schema does not have, such as %s",
			MaxQueryUnknownNames, strings.Join(shape.unknown[:3], ", "))
		e.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
		return e
	}
	d := newDocumentMeasure(doc)
	var total docSize
	for _, set := range d.roots {
		total = total.plus(d.size(set))
		switch {
		case d.cycle != "":
			e := gqlerror.Errorf("fragment %s spreads itself", d.cycle)
			e.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
			return e
		case total.selections > MaxQuerySelections:
			return tooComplex("the query has over %d selections (fields, aliases and fragment spreads, each fragment counted wherever it is spread)", MaxQuerySelections)
		case total.aliases > MaxQueryAliases:
			return tooComplex("the query has over %d aliases (each fragment counted wherever it is spread)", MaxQueryAliases)
		}
	}
	// Expanding every root is now bounded by MaxQuerySelections.
	overlaps := 0
	for _, set := range d.roots {
		overlaps += d.overlaps(set)
		if overlaps > MaxQueryOverlaps {
			return tooComplex("the query repeats a field or a fragment spread at one place too often (over %d pairs): use aliases or ask once", MaxQueryOverlaps)
		}
	}
	return nil
}

// docSize counts selections, and aliased fields among them, up to just over
// their limits.
type docSize struct{ selections, aliases int }

func (a docSize) plus(b docSize) docSize {
	return docSize{min(a.selections+b.selections, MaxQuerySelections+1), min(a.aliases+b.aliases, MaxQueryAliases+1)}
}

func (a docSize) over() bool { return a.selections > MaxQuerySelections || a.aliases > MaxQueryAliases }

// documentMeasure sizes a document with fragments expanded, remembering each
// fragment's size so that no fragment is measured twice.
type documentMeasure struct {
	fragments map[string]*ast.FragmentDefinition
	sizes     map[string]docSize // measured fragments; -1 selections while being measured
	cycle     string             // a fragment that spreads itself, directly or not
	roots     []ast.SelectionSet

	// for overlaps: the places of the result seen so far, numbered
	places   map[place]*placeCount
	placeIDs int
}

// A place of the result is a response name (or "..." for the fragment
// spreads) under a parent place.
type place struct {
	parent int
	name   string
}

type placeCount struct {
	id int // the place's own number, the parent of what is below it
	n  int
}

func newDocumentMeasure(doc *ast.QueryDocument) *documentMeasure {
	d := &documentMeasure{
		fragments: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		sizes:     make(map[string]docSize, len(doc.Fragments)),
	}
	for _, f := range doc.Fragments {
		// gqlparser resolves a spread to the first of duplicate names.
		if _, ok := d.fragments[f.Name]; !ok {
			d.fragments[f.Name] = f
		}
	}
	// Validation starts a walk at every operation and every fragment.
	for _, op := range doc.Operations {
		d.roots = append(d.roots, op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		d.roots = append(d.roots, f.SelectionSet)
	}
	return d
}

// size counts the selections of set with fragments expanded, stopping
// once over a limit.
func (d *documentMeasure) size(set ast.SelectionSet) docSize {
	var n docSize
	for _, sel := range set {
		if n.over() {
			break
		}
		switch s := sel.(type) {
		case *ast.Field:
			n = n.plus(docSize{selections: 1}).plus(d.size(s.SelectionSet))
			if s.Alias != "" && s.Alias != s.Name {
				n = n.plus(docSize{aliases: 1})
			}
		case *ast.InlineFragment:
			n = n.plus(docSize{selections: 1}).plus(d.size(s.SelectionSet))
		case *ast.FragmentSpread:
			n = n.plus(docSize{selections: 1}).plus(d.fragmentSize(s.Name))
		}
	}
	return n
}

func (d *documentMeasure) fragmentSize(name string) docSize {
	f, ok := d.fragments[name]
	if !ok {
		return docSize{} // unknown: validation says so
	}
	n, seen := d.sizes[name]
	switch {
	case seen && n.selections < 0:
		d.cycle = name
		return docSize{}
	case seen:
		return n
	}
	d.sizes[name] = docSize{selections: -1}
	n = d.size(f.SelectionSet)
	d.sizes[name] = n
	return n
}

// overlaps counts the pairs of selections of set, fragments expanded, that
// share a place in the result. Call it only on a document whose size is
// bounded and that has no fragment cycle.
func (d *documentMeasure) overlaps(set ast.SelectionSet) int {
	if d.places == nil {
		d.places = make(map[place]*placeCount)
	}
	d.placeIDs++ // each root is a result of its own
	return d.overlapsAt(set, d.placeIDs)
}

func (d *documentMeasure) overlapsAt(set ast.SelectionSet, parent int) int {
	pairs := 0
	for _, sel := range set {
		if pairs > MaxQueryOverlaps {
			break
		}
		switch s := sel.(type) {
		case *ast.Field:
			name := s.Alias
			if name == "" {
				name = s.Name
			}
			p := d.visit(place{parent, name})
			pairs += p.n - 1
			pairs += d.overlapsAt(s.SelectionSet, p.id)
		case *ast.InlineFragment:
			pairs += d.overlapsAt(s.SelectionSet, parent)
		case *ast.FragmentSpread:
			// Validation compares every two spreads of a selection set,
			// whatever their fragments.
			pairs += d.visit(place{parent, "..."}).n - 1
			if f, ok := d.fragments[s.Name]; ok {
				pairs += d.overlapsAt(f.SelectionSet, parent)
			}
		}
	}
	return pairs
}

// visit counts one more selection at p.
func (d *documentMeasure) visit(p place) *placeCount {
	c, ok := d.places[p]
	if !ok {
		d.placeIDs++
		c = &placeCount{id: d.placeIDs}
		d.places[p] = c
	}
	c.n++
	return c
}

// document describes the first list in doc longer than MaxQueryListed, or
// name longer than MaxQueryNameLength, or returns "", and gathers names the
// schema does not have (up to just over MaxQueryUnknownNames). It reads each
// definition once, without expanding fragments.
func (c *shapeCheck) document(doc *ast.QueryDocument) string {
	if len(doc.Operations) > MaxQueryListed {
		return fmt.Sprintf("over %d operations", MaxQueryListed)
	}
	for _, op := range doc.Operations {
		c.name(op.Name)
		c.list(len(op.VariableDefinitions), "variables in one operation")
		for _, v := range op.VariableDefinitions {
			c.name(v.Variable)
			c.typ(v.Type)
			c.directives(v.Directives)
			c.value(v.DefaultValue)
		}
		c.directives(op.Directives)
		c.selections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		c.name(f.Name)
		c.schemaName(f.TypeCondition)
		c.directives(f.Directives)
		c.selections(f.SelectionSet)
	}
	return c.problem
}

// shapeCheck remembers the first problem it finds.
type shapeCheck struct {
	schemaNames map[string]bool
	problem     string
	unknown     []string
}

// name checks a name the document defines (an alias, a variable).
func (c *shapeCheck) name(s string) {
	if len(s) > MaxQueryNameLength && c.problem == "" {
		c.problem = fmt.Sprintf("a name longer than %d characters", MaxQueryNameLength)
	}
}

// schemaName checks a name that refers to the schema.
func (c *shapeCheck) schemaName(s string) {
	c.name(s)
	if s != "" && !c.schemaNames[s] && len(c.unknown) <= MaxQueryUnknownNames {
		c.unknown = append(c.unknown, strconv.Quote(s))
	}
}

func (c *shapeCheck) list(n int, what string) {
	if n > MaxQueryListed && c.problem == "" {
		c.problem = fmt.Sprintf("over %d %s", MaxQueryListed, what)
	}
}

func (c *shapeCheck) typ(t *ast.Type) {
	for ; t != nil && c.problem == ""; t = t.Elem {
		c.schemaName(t.NamedType)
	}
}

func (c *shapeCheck) selections(set ast.SelectionSet) {
	for _, sel := range set {
		if c.problem != "" {
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			c.name(s.Alias)
			c.schemaName(s.Name)
			c.arguments(s.Arguments, "arguments in one field")
			c.directives(s.Directives)
			c.selections(s.SelectionSet)
		case *ast.InlineFragment:
			c.schemaName(s.TypeCondition)
			c.directives(s.Directives)
			c.selections(s.SelectionSet)
		case *ast.FragmentSpread:
			c.name(s.Name)
			c.directives(s.Directives)
		}
	}
}

func (c *shapeCheck) directives(list ast.DirectiveList) {
	c.list(len(list), "directives in one place")
	for _, d := range list {
		c.schemaName(d.Name)
		c.arguments(d.Arguments, "arguments in one directive")
	}
}

func (c *shapeCheck) arguments(list ast.ArgumentList, what string) {
	c.list(len(list), what)
	for _, a := range list {
		c.schemaName(a.Name)
		c.value(a.Value)
	}
}

func (c *shapeCheck) value(v *ast.Value) {
	if v == nil || c.problem != "" {
		return
	}
	switch v.Kind {
	case ast.EnumValue:
		c.schemaName(v.Raw)
	case ast.Variable:
		c.name(v.Raw)
	case ast.ObjectValue:
		c.list(len(v.Children), "fields in one input object")
	}
	for _, child := range v.Children {
		if v.Kind == ast.ObjectValue {
			c.schemaName(child.Name)
		}
		c.value(child.Value)
	}
}
