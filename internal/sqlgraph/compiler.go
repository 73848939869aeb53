// Package sqlgraph compiles a GraphQL root query field into one PostgreSQL
// statement that builds the field's JSON answer inside the database
// (json_build_object per object, json_agg per list, a correlated subquery
// per edge, keyset pagination for connections), so that a nested read costs
// one round trip and no per-row work in Go.
//
// parse → plan → SQL → bytes: gqlgen has already parsed and validated the
// document; the compiler walks the root field's collected selection against
// the table entc generated from ent/schema (schema_gen.go), the explicit
// table of computed fields (computed.go) and of root fields (roots.go), and
// writes SQL in one place (builder.go). Anything it does not know — a field,
// an argument, a directive — makes Compile answer ErrFallback, and the root
// field runs on gqlgen and ent as before: never a wrong answer.
//
// Tenant isolation comes from the same declaration as ent's privacy rules
// (ent/schema.Tenancy, written into the generated table): every table the
// statement reads is filtered by it.
package sqlgraph

import (
	"errors"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/licensing"
	"clnd/internal/viewer"
)

// ErrFallback means the root field is not compiled: run it on gqlgen.
var ErrFallback = errors.New("sqlgraph: not compiled")

func fallback(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFallback}, args...)...)
}

// Compiler holds the tables; it is safe for concurrent use.
type Compiler struct {
	types      map[string]*Type
	byTable    map[string]*Type
	staleAfter time.Duration
	links      licensing.BackupLinks
}

// New returns a compiler. staleAfter is the check-in window of
// IPLicense.status; links sign Backup.managementURL.
func New(staleAfter time.Duration, links licensing.BackupLinks) *Compiler {
	c := &Compiler{types: generatedTypes, byTable: map[string]*Type{}, staleAfter: staleAfter, links: links}
	for _, t := range generatedTypes {
		c.byTable[t.Table] = t
	}
	return c
}

// Request is what a compiled statement depends on besides the document.
type Request struct {
	Viewer viewer.Viewer
	// Now is the business clock's time (IPLicense.status).
	Now time.Time
	// Origin is the scheme and host links are built on (Invoice.downloadURL).
	Origin string
	Op     *graphql.OperationContext
}

// Statement is one compiled root field: run Query with Args; its single row
// and column is the field's JSON, to be passed through Finish.
type Statement struct {
	Query string
	Args  []any
	// placeholders is set when the JSON holds placeholders (cursors,
	// signed links) for Finish to fill in.
	placeholders bool
	links        licensing.BackupLinks
	now          time.Time
}

// compilation is the state of compiling one root field.
type compilation struct {
	c   *Compiler
	req *Request
	b   builder
	// placeholder is set when a placeholder was written.
	placeholder bool
	// reseller is the placeholder of the viewer's reseller ID, once made.
	reseller string
}

// Compile compiles field, a root field of Query, or answers ErrFallback.
func (c *Compiler) Compile(req *Request, field graphql.CollectedField) (*Statement, error) {
	if req.Op == nil || req.Op.Operation == nil || req.Op.Operation.Operation != ast.Query {
		return nil, fallback("not a query")
	}
	switch req.Viewer.Role {
	case viewer.Operator:
	case viewer.Reseller:
		if req.Viewer.ResellerID == "" {
			return nil, fallback("reseller viewer without an ID")
		}
	default:
		return nil, fallback("anonymous")
	}
	if field.Definition == nil {
		return nil, fallback("no definition")
	}
	root, ok := roots[field.Name]
	if !ok {
		return nil, fallback("root field %s", field.Name)
	}
	if field.Definition.Directives.ForName("operator") != nil && req.Viewer.Role != viewer.Operator {
		return nil, fallback("operator only") // gqlgen answers FORBIDDEN
	}
	k := &compilation{c: c, req: req}
	query, err := root.compile(k, field)
	if err != nil {
		return nil, err
	}
	return &Statement{Query: query, Args: k.b.args, placeholders: k.placeholder, links: c.links, now: req.Now}, nil
}

// collect is gqlgen's own field collection (fragments, @skip/@include,
// merging by response key), so the compiled answer has the executor's keys
// in the executor's order.
func (k *compilation) collect(sel ast.SelectionSet, implements ...string) ([]graphql.CollectedField, error) {
	fields := graphql.CollectFields(k.req.Op, sel, implements)
	for _, f := range fields {
		if len(f.Deferrables) > 0 {
			return nil, fallback("@defer")
		}
	}
	return fields, nil
}

// args is a field's arguments with variables and defaults applied.
func (k *compilation) args(f graphql.CollectedField) map[string]any {
	return f.ArgumentMap(k.req.Op.Variables)
}
