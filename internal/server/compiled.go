package server

import (
	"context"
	"errors"
	"io"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/clock"
	"clnd/internal/reqinfo"
	"clnd/internal/sqlgraph"
	"clnd/internal/viewer"
)

// compiledReads answers each root query field that internal/sqlgraph can
// compile with one PostgreSQL statement whose JSON goes straight into the
// response; every other field, and any field whose statement fails or finds
// nothing, runs on gqlgen and ent as before (so errors are always theirs).
// It runs after validation, the query limits and the page-size defaults,
// and decides per root field, so one document can mix both.
func (s *Server) compiledReads(c *sqlgraph.Compiler) graphql.RootFieldMiddleware {
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
				s.log.Error("compiling a read", "request_id", reqinfo.FromContext(ctx).ID, "field", rf.Field.Name, "err", err)
			}
			s.metrics.compiledRead(rf.Field.Name, false)
			return next(ctx)
		}
		var out []byte
		if err := s.db.SQL.QueryRowContext(ctx, stmt.Query, stmt.Args...).Scan(&out); err != nil || out == nil {
			if err != nil && ctx.Err() == nil {
				s.log.Debug("compiled read failed; running it on gqlgen", "request_id", reqinfo.FromContext(ctx).ID, "field", rf.Field.Name, "err", err)
			}
			s.metrics.compiledRead(rf.Field.Name, false)
			return next(ctx)
		}
		if out, err = stmt.Finish(out); err != nil {
			s.log.Error("finishing a compiled read", "request_id", reqinfo.FromContext(ctx).ID, "field", rf.Field.Name, "err", err)
			s.metrics.compiledRead(rf.Field.Name, false)
			return next(ctx)
		}
		s.metrics.compiledRead(rf.Field.Name, true)
		return graphql.WriterFunc(func(w io.Writer) { _, _ = w.Write(out) })
	}
}
