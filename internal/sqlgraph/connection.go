package sqlgraph

import (
	"strconv"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"

	"clnd/ent"
)

// MaxPageSize mirrors internal/server's limit; larger pages never reach a
// resolver (the limits answer BAD_USER_INPUT first).
const MaxPageSize = 100

// connection describes a root Relay connection field.
type connection struct {
	typ          string
	defaultOrder *order // nil: by id, ascending (entgql's default)
	where        func(any) (func(*entsql.Selector), error)
	search       bool
	searchBy     func(string) func(*entsql.Selector)
	resellerArg  bool
}

type order struct {
	field string // an entgql order field name; "" is the id
	desc  bool
}

// page is one connection's arguments, as entgql's Paginate reads them.
type page struct {
	first, last   *int
	after, before *ent.Cursor
	order         order
	column        Column // the order field's column; Name "" for the id
}

func connectionOf(spec connection) func(*compilation, graphql.CollectedField) (string, error) {
	return func(k *compilation, f graphql.CollectedField) (string, error) {
		return k.connection(spec, f)
	}
}

func (k *compilation) connection(spec connection, f graphql.CollectedField) (string, error) {
	t := k.c.types[spec.typ]
	args := k.args(f)
	known := map[string]bool{"first": true, "last": true, "after": true, "before": true, "orderBy": true, "where": true,
		"search": spec.search, "resellerID": spec.resellerArg}
	for name := range args {
		if !known[name] {
			return "", fallback("argument %s", name)
		}
	}
	pg, err := k.page(t, spec, args)
	if err != nil {
		return "", err
	}

	// The filter: tenancy, resellerID, where, search — written once and
	// used by both the count and the page.
	a := k.b.alias()
	var conds []string
	tenant, err := k.tenant(t, a)
	if err != nil {
		return "", err
	}
	if tenant != "" {
		conds = append(conds, tenant)
	}
	if live := liveRows(t, a); live != "" {
		conds = append(conds, live)
	}
	if id, ok := args["resellerID"]; ok && id != nil {
		s, ok := id.(string)
		if !ok {
			return "", fallback("resellerID")
		}
		conds = append(conds, col(a, "reseller_id")+" = "+k.b.arg(s))
	}
	var preds []func(*entsql.Selector)
	if raw, ok := args["where"]; ok && raw != nil {
		p, err := spec.where(raw)
		if err != nil {
			return "", err
		}
		if p != nil {
			preds = append(preds, p)
		}
	}
	if raw, ok := args["search"]; ok && raw != nil {
		s, ok := raw.(string)
		if !ok {
			return "", fallback("search")
		}
		if s != "" {
			preds = append(preds, spec.searchBy(s))
		}
	}
	if len(preds) > 0 {
		if p := k.b.entPredicate(t.Table, a, preds...); p != "" {
			conds = append(conds, "("+p+")")
		}
	}
	from := ident(t.Table) + " " + a
	filter := ""
	if len(conds) > 0 {
		filter = " WHERE " + strings.Join(conds, " AND ")
	}
	count := "(SELECT count(*) FROM " + from + filter + ")"

	fields, err := k.collect(f.Selections, f.Definition.Type.Name())
	if err != nil {
		return "", err
	}
	n := 0
	if pg.first != nil {
		n = *pg.first
	} else {
		n = *pg.last
	}
	// entgql reads no page when the edges are not asked for or the page is empty.
	edgesAsked := false
	for _, cf := range fields {
		if cf.Name == "edges" {
			edgesAsked = true
		}
		// entgql finds edges, totalCount and pageInfo by response key, so
		// an alias changes its answer (an aliased totalCount reads 0): leave
		// such documents to it rather than answer differently.
		if cf.Alias != cf.Name && cf.Name != "__typename" {
			return "", fallback("aliased connection field %s", cf.Name)
		}
	}
	readPage := edgesAsked && n > 0

	// The page: rows after the cursors, in order (reversed for last), one
	// more than asked to learn whether there is a next page.
	with := ""
	if readPage {
		cursorConds, err := k.cursorPredicates(a, pg)
		if err != nil {
			return "", err
		}
		pageFilter := filter
		if len(cursorConds) > 0 {
			if pageFilter == "" {
				pageFilter = " WHERE " + strings.Join(cursorConds, " AND ")
			} else {
				pageFilter += " AND " + strings.Join(cursorConds, " AND ")
			}
		}
		ord := k.orderBy(a, pg)
		with = "WITH page AS (SELECT " + a + ".*, row_number() OVER (ORDER BY " + ord + ") AS sqlgraph_rn FROM " +
			from + pageFilter + " ORDER BY " + ord + " LIMIT " + strconv.Itoa(n+1) + ") "
	}
	limit := strconv.Itoa(n)
	// Edges come out in the order asked: reversed back for last.
	outOrder := "pg.sqlgraph_rn"
	firstOut, lastOut := "pg.sqlgraph_rn", "pg.sqlgraph_rn DESC"
	if pg.last != nil {
		outOrder = "pg.sqlgraph_rn DESC"
		firstOut, lastOut = lastOut, firstOut
	}
	inPage := " FROM page pg WHERE pg.sqlgraph_rn <= " + limit
	full := "((SELECT count(*) FROM page) = " + strconv.Itoa(n+1) + ")"

	obj, err := k.build(fields, func(cf graphql.CollectedField) (string, error) {
		switch cf.Name {
		case "__typename":
			return literal(cf.ObjectDefinition.Name), nil
		case "totalCount":
			return count, nil
		case "edges":
			if !readPage {
				return "'[]'::json", nil
			}
			edgeFields, err := k.collect(cf.Selections, cf.Definition.Type.Name())
			if err != nil {
				return "", err
			}
			edge, err := k.build(edgeFields, func(ef graphql.CollectedField) (string, error) {
				switch ef.Name {
				case "__typename":
					return literal(ef.ObjectDefinition.Name), nil
				case "cursor":
					return k.cursorExpr("pg", pg), nil
				case "node":
					return k.object(t, "pg", ef.Selections)
				}
				return "", fallback("edge field %s", ef.Name)
			})
			if err != nil {
				return "", err
			}
			return "(SELECT coalesce(json_agg(" + edge + " ORDER BY " + outOrder + "), '[]')" + inPage + ")", nil
		case "pageInfo":
			infoFields, err := k.collect(cf.Selections, "PageInfo")
			if err != nil {
				return "", err
			}
			return k.build(infoFields, func(pf graphql.CollectedField) (string, error) {
				switch pf.Name {
				case "__typename":
					return literal("PageInfo"), nil
				case "hasNextPage":
					if !readPage {
						return boolExpr(pg.first != nil, count+" > 0"), nil
					}
					return orExpr(pg.before != nil, pg.first != nil, full), nil
				case "hasPreviousPage":
					if !readPage {
						return boolExpr(pg.last != nil, count+" > 0"), nil
					}
					return orExpr(pg.after != nil, pg.last != nil, full), nil
				case "startCursor", "endCursor":
					if !readPage {
						return "NULL::json", nil
					}
					o := firstOut
					if pf.Name == "endCursor" {
						o = lastOut
					}
					return "(SELECT " + k.cursorExpr("pg", pg) + inPage + " ORDER BY " + o + " LIMIT 1)", nil
				}
				return "", fallback("PageInfo.%s", pf.Name)
			})
		}
		return "", fallback("connection field %s", cf.Name)
	})
	if err != nil {
		return "", err
	}
	return with + "SELECT " + obj, nil
}

// boolExpr is cond when given, else false.
func boolExpr(given bool, cond string) string {
	if !given {
		return "false"
	}
	return "(" + cond + ")"
}

// orExpr is true when always holds, else cond when given, else false.
func orExpr(always, given bool, cond string) string {
	if always {
		return "true"
	}
	return boolExpr(given, cond)
}

// page reads first/last, the cursors and orderBy as entgql does.
func (k *compilation) page(t *Type, spec connection, args map[string]any) (page, error) {
	var pg page
	for _, p := range []struct {
		name string
		dst  **int
	}{{"first", &pg.first}, {"last", &pg.last}} {
		raw, ok := args[p.name]
		if !ok || raw == nil {
			continue
		}
		n, ok := asInt(raw)
		if !ok || n < 0 || n > MaxPageSize {
			return pg, fallback("%s", p.name)
		}
		*p.dst = &n
	}
	if (pg.first == nil) == (pg.last == nil) {
		return pg, fallback("exactly one of first and last")
	}
	for _, c := range []struct {
		name string
		dst  **ent.Cursor
	}{{"after", &pg.after}, {"before", &pg.before}} {
		raw, ok := args[c.name]
		if !ok || raw == nil {
			continue
		}
		cur := new(ent.Cursor)
		if err := cur.UnmarshalGQL(raw); err != nil {
			return pg, fallback("%s: %v", c.name, err)
		}
		*c.dst = cur
	}
	if spec.defaultOrder != nil {
		pg.order = *spec.defaultOrder
	}
	if raw, ok := args["orderBy"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return pg, fallback("orderBy")
		}
		field, _ := m["field"].(string)
		pg.order = order{field: field}
		switch m["direction"] {
		case nil, "ASC":
		case "DESC":
			pg.order.desc = true
		default:
			return pg, fallback("orderBy.direction")
		}
	}
	if pg.order.field != "" {
		c, ok := t.OrderFields[pg.order.field]
		if !ok {
			return pg, fallback("order field %s", pg.order.field)
		}
		if c.Nullable && c.Kind != KindTime {
			return pg, fallback("nullable order field %s", pg.order.field)
		}
		pg.column = c
		if c.Nullable {
			// The ent path refuses a cursor of another ordering up front
			// (BAD_USER_INPUT), whatever the selection.
			for _, cur := range []*ent.Cursor{pg.after, pg.before} {
				if cur == nil {
					continue
				}
				if _, ok := cur.Value.(time.Time); cur.Value != nil && !ok {
					return pg, fallback("a cursor of another ordering")
				}
			}
		}
	}
	return pg, nil
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	}
	return 0, false
}

// direction is the order the page is read in: reversed for last, as entgql.
func (pg page) descending() bool {
	if pg.last != nil {
		return !pg.order.desc
	}
	return pg.order.desc
}

func (k *compilation) orderBy(alias string, pg page) string {
	dir := " ASC"
	if pg.descending() {
		dir = " DESC"
	}
	if pg.column.Name == "" || pg.column.Name == "id" {
		return col(alias, "id") + dir
	}
	if pg.column.Nullable {
		// NULL sorts before every value (docs/schema.md, "Ordering";
		// licensing.checkInOrder on the ent path).
		nulls := " NULLS FIRST"
		if pg.descending() {
			nulls = " NULLS LAST"
		}
		return col(alias, pg.column.Name) + dir + nulls + ", " + col(alias, "id") + dir
	}
	return col(alias, pg.column.Name) + dir + ", " + col(alias, "id") + dir
}

// nullableCursorPredicates mirrors licensing.checkInCursorPredicate: the
// rows after (or before) the cursor's row in ascending order, NULLs first;
// a cursor without a value is a row whose value is NULL.
func (k *compilation) nullableCursorPredicates(alias string, pg page) ([]string, error) {
	c, id := col(alias, pg.column.Name), col(alias, "id")
	var out []string
	for _, cur := range []struct {
		c     *ent.Cursor
		after bool
	}{{pg.after, true}, {pg.before, false}} {
		if cur.c == nil {
			continue
		}
		afterAsc := cur.after == !pg.order.desc
		var at *time.Time
		switch v := cur.c.Value.(type) {
		case nil:
		case time.Time:
			utc := v.UTC()
			at = &utc
		default:
			return nil, fallback("a cursor of another ordering") // BAD_USER_INPUT on gqlgen
		}
		cid := k.b.arg(cur.c.ID)
		switch {
		case at == nil && afterAsc:
			out = append(out, "(("+c+" IS NULL AND "+id+" > "+cid+") OR "+c+" IS NOT NULL)")
		case at == nil:
			out = append(out, "("+c+" IS NULL AND "+id+" < "+cid+")")
		case afterAsc:
			v := k.b.arg(*at)
			out = append(out, "("+c+" > "+v+" OR ("+c+" = "+v+" AND "+id+" > "+cid+"))")
		default:
			v := k.b.arg(*at)
			out = append(out, "("+c+" IS NULL OR "+c+" < "+v+" OR ("+c+" = "+v+" AND "+id+" < "+cid+"))")
		}
	}
	return out, nil
}

// cursorPredicates mirrors entgql.CursorsPredicate: each cursor, after or
// before, keeps the rows past it in the reading direction; a cursor with a
// value compares (order column, id), one without compares the id alone.
func (k *compilation) cursorPredicates(alias string, pg page) ([]string, error) {
	if pg.column.Nullable {
		return k.nullableCursorPredicates(alias, pg)
	}
	op := " > "
	if pg.descending() {
		op = " < "
	}
	var out []string
	for _, c := range []*ent.Cursor{pg.after, pg.before} {
		if c == nil {
			continue
		}
		if c.Value == nil {
			out = append(out, col(alias, "id")+op+k.b.arg(c.ID))
			continue
		}
		if pg.column.Name == "" {
			// entgql compares the id column with itself here.
			out = append(out, "("+col(alias, "id")+", "+col(alias, "id")+")"+op+"("+k.b.arg(c.Value)+", "+k.b.arg(c.ID)+")")
			continue
		}
		out = append(out, "("+col(alias, pg.column.Name)+", "+col(alias, "id")+")"+op+"("+k.b.arg(c.Value)+", "+k.b.arg(c.ID)+")")
	}
	return out, nil
}
