// Package sqlgraph compiles a GraphQL query — each root field, or the whole
// operation when every root field compiles — into one PostgreSQL statement
// that builds the JSON answer inside the database (json_build_object per
// object, json_agg per list, a correlated subquery per edge, keyset
// pagination for connections), so that a nested read costs one round trip
// and no per-row work in Go.
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
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/invoicepdf"
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
	// invoiceLinks sign Invoice.downloadURL.
	invoiceLinks invoicepdf.Links
	// operations caches CompileOperation's answers (statements and
	// fallbacks) by a hash of the viewer, document, operation and variables.
	operations *lru.LRU[compiled]
}

type compiled struct {
	stmt *Statement
	err  error
}

// New returns a compiler. staleAfter is the check-in window of
// IPLicense.status; links sign Backup.managementURL, invoiceLinks
// Invoice.downloadURL.
func New(staleAfter time.Duration, links licensing.BackupLinks, invoiceLinks invoicepdf.Links) *Compiler {
	c := &Compiler{types: generatedTypes, byTable: map[string]*Type{}, staleAfter: staleAfter, links: links,
		invoiceLinks: invoiceLinks, operations: lru.New[compiled](operationCacheSize)}
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

// compilation is the state of compiling one statement.
type compilation struct {
	c   *Compiler
	req *Request
	b   builder
	// placeholder is set when a placeholder was written.
	placeholder bool
	// reseller is the placeholder of the viewer's reseller ID, once made.
	reseller string
}

func (c *Compiler) check(req *Request) error {
	if req.Op == nil || req.Op.Operation == nil || req.Op.Operation.Operation != ast.Query {
		return fallback("not a query")
	}
	switch req.Viewer.Role {
	case viewer.Operator:
	case viewer.Reseller:
		if req.Viewer.ResellerID == "" {
			return fallback("reseller viewer without an ID")
		}
	default:
		return fallback("anonymous")
	}
	return nil
}

// Compile compiles field, a root field of Query, or answers ErrFallback.
func (c *Compiler) Compile(req *Request, field graphql.CollectedField) (*Statement, error) {
	if err := c.check(req); err != nil {
		return nil, err
	}
	k := &compilation{c: c, req: req}
	query, err := k.root(field)
	if err != nil {
		return nil, err
	}
	return k.statement(query, nil), nil
}

// operationCacheSize bounds the compiled-operation cache.
const operationCacheSize = 1024

// CompileOperation compiles every root field of a query operation into one
// statement, a column each; ErrFallback when any field is not compiled.
// A statement depends only on the viewer, the document, the operation and
// its variables (Bind supplies the rest), so answers are cached by those.
func (c *Compiler) CompileOperation(req *Request) (*Statement, error) {
	if err := c.check(req); err != nil {
		return nil, err
	}
	vars, err := json.Marshal(req.Op.Variables)
	if err != nil {
		return nil, fallback("variables: %v", err)
	}
	// Large documents or variables (a search term of a megabyte) are
	// compiled afresh each time rather than kept: the cache stays small.
	cacheable := len(vars) <= maxCachedVariables && len(req.Op.RawQuery) <= maxCachedDocument
	var key string
	if cacheable {
		h := sha256.New()
		for _, part := range []string{req.Viewer.Role.String(), req.Viewer.ResellerID, req.Op.OperationName, string(vars), req.Op.RawQuery} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
		key = string(h.Sum(nil))
		if hit, ok := c.operations.Get(context.Background(), key); ok {
			return hit.stmt, hit.err
		}
	}
	stmt, err := c.compileOperation(req)
	if cacheable && (err == nil && len(stmt.Query) <= maxCachedStatement || errors.Is(err, ErrFallback)) {
		c.operations.Add(context.Background(), key, compiled{stmt, err})
	}
	return stmt, err
}

// Bounds of what the compiled-operation cache keeps.
const (
	maxCachedVariables = 4 << 10
	maxCachedDocument  = 16 << 10
	maxCachedStatement = 32 << 10
)

func (c *Compiler) compileOperation(req *Request) (*Statement, error) {
	k := &compilation{c: c, req: req}
	fields, err := k.collect(req.Op.Operation.SelectionSet, "Query")
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, fallback("no fields")
	}
	cols := make([]string, len(fields))
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.Alias
		if f.Name == "__typename" {
			cols[i] = "to_json('Query'::text)"
			continue
		}
		q, err := k.root(f)
		if err != nil {
			return nil, err
		}
		cols[i] = "(" + q + ")"
	}
	return k.statement("SELECT "+strings.Join(cols, ", "), keys), nil
}

func (k *compilation) statement(query string, keys []string) *Statement {
	return &Statement{Query: query, args: k.b.args, Keys: keys, placeholders: k.placeholder, links: k.c.links, invoiceLinks: k.c.invoiceLinks, staleAfter: k.c.staleAfter}
}

// root compiles one root field into a whole statement.
func (k *compilation) root(field graphql.CollectedField) (string, error) {
	if field.Definition == nil {
		return "", fallback("no definition")
	}
	root, ok := roots[field.Name]
	if !ok {
		return "", fallback("root field %s", field.Name)
	}
	if field.Definition.Directives.ForName("operator") != nil && k.req.Viewer.Role != viewer.Operator {
		return "", fallback("operator only") // gqlgen answers FORBIDDEN
	}
	return root.compile(k, field)
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
