package licensing

import (
	"context"
	"fmt"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/ent/predicate"
	"clnd/ent/server"
	"clnd/internal/apperr"
)

// Paging by LAST_CHECK_IN, a column that is NULL until the first check-in.
//
// entgql's generated paginator leaves NULL placement to the database (first
// on SQLite, last on PostgreSQL) and gives a NULL row a cursor without a
// value, which it then reads as "compare ids only": on PostgreSQL the page
// after the last checked-in license skipped every license that never checked
// in. This paginator is used instead whenever the order field is
// LAST_CHECK_IN. The rule, the same on both databases and for the read
// compiler (docs/schema.md, "Ordering"):
//
//	ASC:  ORDER BY last_check_in ASC NULLS FIRST, id ASC
//	DESC: ORDER BY last_check_in DESC NULLS LAST, id DESC
//
// A row's cursor is {i: id, v: last_check_in}, with "v" left out when the
// column is NULL; a cursor without "v" means "this row's value is NULL".

// OrdersByLastCheckIn reports whether an order field is LAST_CHECK_IN, the
// ordering this file pages.
func OrdersByLastCheckIn[F fmt.Stringer](field *F) bool {
	return field != nil && (*field).String() == "LAST_CHECK_IN"
}

// IPLicensesByLastCheckIn pages q (filtered by where) ordered by last check-in.
func IPLicensesByLastCheckIn(ctx context.Context, q *ent.IPLicenseQuery, after *ent.Cursor, first *int, before *ent.Cursor, last *int,
	direction entgql.OrderDirection, where *ent.IPLicenseWhereInput) (*ent.IPLicenseConnection, error) {
	q, err := where.Filter(q)
	if err != nil {
		return nil, err
	}
	p, err := pageByLastCheckIn(ctx, pager[*ent.IPLicense]{
		column: iplicense.FieldLastCheckIn,
		id:     iplicense.FieldID,
		count:  func(ctx context.Context) (int, error) { return q.Clone().Count(ctx) },
		fetch: func(ctx context.Context, nodeCtx context.Context, where []func(*sql.Selector), orderBy func(*sql.Selector), limit int) ([]*ent.IPLicense, error) {
			q := q.Clone()
			for _, w := range where {
				q.Where(predicate.IPLicense(w))
			}
			q.Order(iplicense.OrderOption(orderBy))
			if limit > 0 {
				q.Limit(limit)
			}
			if nodeCtx != nil {
				var err error
				if q, err = q.CollectFields(nodeCtx); err != nil {
					return nil, err
				}
			}
			return q.All(ctx)
		},
		cursor: func(l *ent.IPLicense) ent.Cursor { return checkInCursor(l.ID, l.LastCheckIn) },
	}, after, first, before, last, direction)
	if err != nil {
		return nil, err
	}
	conn := &ent.IPLicenseConnection{Edges: make([]*ent.IPLicenseEdge, len(p.nodes)), PageInfo: p.info, TotalCount: p.total}
	for i, n := range p.nodes {
		conn.Edges[i] = &ent.IPLicenseEdge{Node: n, Cursor: p.cursors[i]}
	}
	if l := len(conn.Edges); l > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[l-1].Cursor
	}
	return conn, nil
}

// ServersByLastCheckIn pages q (filtered by where) ordered by last check-in.
func ServersByLastCheckIn(ctx context.Context, q *ent.ServerQuery, after *ent.Cursor, first *int, before *ent.Cursor, last *int,
	direction entgql.OrderDirection, where *ent.ServerWhereInput) (*ent.ServerConnection, error) {
	q, err := where.Filter(q)
	if err != nil {
		return nil, err
	}
	p, err := pageByLastCheckIn(ctx, pager[*ent.Server]{
		column: server.FieldLastCheckIn,
		id:     server.FieldID,
		count:  func(ctx context.Context) (int, error) { return q.Clone().Count(ctx) },
		fetch: func(ctx context.Context, nodeCtx context.Context, where []func(*sql.Selector), orderBy func(*sql.Selector), limit int) ([]*ent.Server, error) {
			q := q.Clone()
			for _, w := range where {
				q.Where(predicate.Server(w))
			}
			q.Order(server.OrderOption(orderBy))
			if limit > 0 {
				q.Limit(limit)
			}
			if nodeCtx != nil {
				var err error
				if q, err = q.CollectFields(nodeCtx); err != nil {
					return nil, err
				}
			}
			return q.All(ctx)
		},
		cursor: func(s *ent.Server) ent.Cursor { return checkInCursor(s.ID, s.LastCheckIn) },
	}, after, first, before, last, direction)
	if err != nil {
		return nil, err
	}
	conn := &ent.ServerConnection{Edges: make([]*ent.ServerEdge, len(p.nodes)), PageInfo: p.info, TotalCount: p.total}
	for i, n := range p.nodes {
		conn.Edges[i] = &ent.ServerEdge{Node: n, Cursor: p.cursors[i]}
	}
	if l := len(conn.Edges); l > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[l-1].Cursor
	}
	return conn, nil
}

// checkInCursor is a row's cursor: a NULL leaves Value an untyped nil, so
// that msgpack omits "v" (entgql would store a typed nil pointer as "v": nil).
func checkInCursor(id string, at *time.Time) ent.Cursor {
	if at == nil {
		return ent.Cursor{ID: id}
	}
	return ent.Cursor{ID: id, Value: *at}
}

// pager is what pageByLastCheckIn needs of one type's query.
type pager[N any] struct {
	column, id string
	// count counts the filtered rows, before any cursor.
	count func(ctx context.Context) (int, error)
	// fetch adds the cursor predicates, the order and the limit and reads the
	// rows; nodeCtx, when not nil, is the context to collect the nodes'
	// selected fields and edges from.
	fetch  func(ctx, nodeCtx context.Context, where []func(*sql.Selector), orderBy func(*sql.Selector), limit int) ([]N, error)
	cursor func(N) ent.Cursor
}

type page[N any] struct {
	nodes   []N
	cursors []ent.Cursor
	info    ent.PageInfo
	total   int
}

// pageByLastCheckIn is entgql's Paginate (same totalCount, pageInfo and
// first/last handling) with the NULL-aware order and cursor predicates.
func pageByLastCheckIn[N any](ctx context.Context, p pager[N], after *ent.Cursor, first *int, before *ent.Cursor, last *int,
	direction entgql.OrderDirection) (*page[N], error) {
	if first != nil && last != nil {
		return nil, &gqlerror.Error{Message: "Passing both `first` and `last` to paginate a connection is not supported."}
	}
	if err := direction.Validate(); err != nil {
		return nil, err
	}
	var where []func(*sql.Selector)
	for _, c := range []struct {
		field  string
		cursor *ent.Cursor
		after  bool
	}{{"after", after, true}, {"before", before, false}} {
		if c.cursor == nil {
			continue
		}
		pred, ok := checkInCursorPredicate(p.column, p.id, *c.cursor, c.after == (direction == entgql.OrderDirectionAsc))
		if !ok {
			return nil, apperr.Input(c.field, "this cursor belongs to another ordering")
		}
		where = append(where, pred)
	}

	out := &page[N]{}
	edges := hasCollectedField(ctx, "edges")
	if hasCollectedField(ctx, "totalCount") || hasCollectedField(ctx, "pageInfo") {
		if after != nil || first != nil || before != nil || last != nil || !edges {
			n, err := p.count(ctx)
			if err != nil {
				return nil, err
			}
			out.total = n
			out.info.HasNextPage = first != nil && n > 0
			out.info.HasPreviousPage = last != nil && n > 0
		}
	}
	if !edges || (first != nil && *first == 0) || (last != nil && *last == 0) {
		return out, nil
	}
	limit := 0
	if first != nil {
		limit = *first + 1
	} else if last != nil {
		limit = *last + 1
	}
	// Paging backwards with last scans in the opposite order, then reverses.
	scanAsc := direction == entgql.OrderDirectionAsc
	if last != nil {
		scanAsc = !scanAsc
	}
	nodes, err := p.fetch(ctx, nodeContext(ctx, "lastCheckIn"), where, checkInOrder(p.column, p.id, scanAsc), limit)
	if err != nil {
		return nil, err
	}

	// What entgql's Connection.build does.
	out.info.HasNextPage = before != nil
	out.info.HasPreviousPage = after != nil
	if first != nil && *first+1 == len(nodes) {
		out.info.HasNextPage = true
		nodes = nodes[:len(nodes)-1]
	} else if last != nil && *last+1 == len(nodes) {
		out.info.HasPreviousPage = true
		nodes = nodes[:len(nodes)-1]
	}
	if last != nil {
		for i, j := 0, len(nodes)-1; i < j; i, j = i+1, j-1 {
			nodes[i], nodes[j] = nodes[j], nodes[i]
		}
	}
	out.nodes = nodes
	out.cursors = make([]ent.Cursor, len(nodes))
	for i, n := range nodes {
		out.cursors[i] = p.cursor(n)
	}
	if out.total == 0 {
		out.total = len(nodes)
	}
	return out, nil
}

// checkInOrder orders NULLs before every value in ascending order (and so
// after every value in descending order), ties broken by id the same way.
func checkInOrder(column, id string, asc bool) func(*sql.Selector) {
	dir, nulls := " ASC NULLS FIRST", " ASC"
	if !asc {
		dir, nulls = " DESC NULLS LAST", " DESC"
	}
	return func(s *sql.Selector) {
		col, idc := s.C(column), s.C(id)
		s.OrderExprFunc(func(b *sql.Builder) {
			b.WriteString(col).WriteString(dir).Comma().WriteString(idc).WriteString(nulls)
		})
	}
}

// checkInCursorPredicate selects the rows after the cursor's row in
// ascending order (NULLs first), or, when !afterAsc, the rows before it. A
// cursor of a descending order's "after" is an ascending order's "before".
//
//	after (NULL, id0):  (col IS NULL AND id > id0) OR col IS NOT NULL
//	after (v0, id0):    col > v0 OR (col = v0 AND id > id0)
//	before (NULL, id0): col IS NULL AND id < id0
//	before (v0, id0):   col IS NULL OR col < v0 OR (col = v0 AND id < id0)
func checkInCursorPredicate(column, id string, c ent.Cursor, afterAsc bool) (func(*sql.Selector), bool) {
	var at *time.Time
	switch v := c.Value.(type) {
	case nil:
	case time.Time:
		utc := v.UTC()
		at = &utc
	default:
		return nil, false
	}
	return func(s *sql.Selector) {
		col, idc := s.C(column), s.C(id)
		switch {
		case at == nil && afterAsc:
			s.Where(sql.Or(sql.And(sql.IsNull(col), sql.GT(idc, c.ID)), sql.NotNull(col)))
		case at == nil:
			s.Where(sql.And(sql.IsNull(col), sql.LT(idc, c.ID)))
		case afterAsc:
			s.Where(sql.Or(sql.GT(col, *at), sql.And(sql.EQ(col, *at), sql.GT(idc, c.ID))))
		default:
			s.Where(sql.Or(sql.IsNull(col), sql.LT(col, *at), sql.And(sql.EQ(col, *at), sql.LT(idc, c.ID))))
		}
	}, true
}

// nodeContext is ctx with the connection's edges.node as its field, plus the
// order column under an alias of its own, so that the generated CollectFields
// selects and eager-loads what the page's nodes need, as entgql's Paginate
// does, and always reads the column the cursors are made of. Nil when the
// query selects no nodes.
func nodeContext(ctx context.Context, orderField string) context.Context {
	node := collectedField(ctx, "edges", "node")
	if node == nil {
		return nil
	}
	field := *node.Field
	field.SelectionSet = append(append(ast.SelectionSet(nil), node.Selections...),
		&ast.Field{Alias: "__clnd_order_" + orderField, Name: orderField})
	return graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{Field: &field, Selections: field.SelectionSet}})
}

// collectedField and hasCollectedField are the generated ent package's
// helpers of the same names (unexported there).
func collectedField(ctx context.Context, path ...string) *graphql.CollectedField {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	field := fc.Field
	oc := graphql.GetOperationContext(ctx)
walk:
	for _, name := range path {
		for _, f := range graphql.CollectFields(oc, field.Selections, nil) {
			if f.Alias == name {
				field = f
				continue walk
			}
		}
		return nil
	}
	return &field
}

func hasCollectedField(ctx context.Context, path ...string) bool {
	if graphql.GetFieldContext(ctx) == nil {
		return true
	}
	return collectedField(ctx, path...) != nil
}
