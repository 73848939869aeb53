package server

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/clock"
	"clnd/internal/reqinfo"
	"clnd/internal/sqlgraph"
	"clnd/internal/viewer"
)

// compiledOperations answers a whole query operation with one statement
// when every root field in it compiles: gqlgen's executor does not run at
// all, and a dashboard's two root fields cost one statement, not two. Any
// other query goes on to compiledReads, field by field; a statement that
// fails or finds nothing sends the whole operation there.
func (s *Server) compiledOperations(c *sqlgraph.Compiler, stmts *stmtCache) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		if op.Operation == nil || op.Operation.Operation != ast.Query {
			return next(ctx)
		}
		req := &sqlgraph.Request{
			Viewer: viewer.FromContext(ctx),
			Now:    clock.Now(ctx),
			Origin: reqinfo.FromContext(ctx).Origin,
			Op:     op,
		}
		stmt, err := c.CompileOperation(req)
		if err != nil {
			if !errors.Is(err, sqlgraph.ErrFallback) {
				s.log.ErrorContext(ctx, "compiling a query", "err", err)
			}
			return next(ctx)
		}
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.DebugContext(ctx, "compiled query", "sql", stmt.Query)
		}
		cols := make([][]byte, len(stmt.Keys))
		dest := make([]any, len(cols))
		for i := range cols {
			dest[i] = &cols[i]
		}
		if err := stmts.queryRow(ctx, stmt.Query, stmt.Bind(req)...).Scan(dest...); err != nil {
			if ctx.Err() == nil {
				s.log.DebugContext(ctx, "compiled query failed; running it on gqlgen", "err", err)
			}
			return next(ctx)
		}
		for i := range cols {
			if cols[i] == nil {
				return next(ctx) // not found: gqlgen says so in its words
			}
			if cols[i], err = stmt.Finish(cols[i], req.Now); err != nil {
				s.log.ErrorContext(ctx, "finishing a compiled query", "err", err)
				return next(ctx)
			}
		}
		for _, f := range graphql.CollectFields(op, op.Operation.SelectionSet, []string{"Query"}) {
			s.metrics.compiledRead(f.Name, true)
		}
		return graphql.OneShot(&graphql.Response{Data: stmt.Assemble(cols)})
	}
}

// compiledReads answers each root query field that internal/sqlgraph can
// compile with one PostgreSQL statement whose JSON goes straight into the
// response; every other field, and any field whose statement fails or finds
// nothing, runs on gqlgen and ent as before (so errors are always theirs).
// It runs after validation, the query limits and the page-size defaults,
// and decides per root field, so one document can mix both.
func (s *Server) compiledReads(c *sqlgraph.Compiler, stmts *stmtCache) graphql.RootFieldMiddleware {
	return func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
		rf := graphql.GetRootFieldContext(ctx)
		op := graphql.GetOperationContext(ctx)
		if rf == nil || op.Operation == nil || op.Operation.Operation != ast.Query {
			return next(ctx)
		}
		req := &sqlgraph.Request{
			Viewer: viewer.FromContext(ctx),
			Now:    clock.Now(ctx),
			Origin: reqinfo.FromContext(ctx).Origin,
			Op:     op,
		}
		stmt, err := c.Compile(req, rf.Field)
		if err != nil {
			if !errors.Is(err, sqlgraph.ErrFallback) {
				s.log.ErrorContext(ctx, "compiling a read", "field", rf.Field.Name, "err", err)
			}
			s.metrics.compiledRead(rf.Field.Name, false)
			return next(ctx)
		}
		var out []byte
		if err := stmts.queryRow(ctx, stmt.Query, stmt.Bind(req)...).Scan(&out); err != nil || out == nil {
			if err != nil && ctx.Err() == nil {
				s.log.DebugContext(ctx, "compiled read failed; running it on gqlgen", "field", rf.Field.Name, "err", err)
			}
			s.metrics.compiledRead(rf.Field.Name, false)
			return next(ctx)
		}
		if out, err = stmt.Finish(out, req.Now); err != nil {
			s.log.ErrorContext(ctx, "finishing a compiled read", "field", rf.Field.Name, "err", err)
			s.metrics.compiledRead(rf.Field.Name, false)
			return next(ctx)
		}
		s.metrics.compiledRead(rf.Field.Name, true)
		return graphql.WriterFunc(func(w io.Writer) { _, _ = w.Write(out) })
	}
}
