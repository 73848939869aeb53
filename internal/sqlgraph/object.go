package sqlgraph

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/viewer"
)

// maxObjectFields: json_build_object takes at most 100 arguments.
const maxObjectFields = 50

// object writes the JSON object of the row under alias, of ent type t, with
// the selection's fields in the executor's order.
func (k *compilation) object(t *Type, alias string, sel ast.SelectionSet) (string, error) {
	// Every ent type implements Node, so `... on Node` applies to it, as in
	// gqlgen's generated implementors lists.
	fields, err := k.collect(sel, t.Name, "Node")
	if err != nil {
		return "", err
	}
	return k.build(fields, func(f graphql.CollectedField) (string, error) {
		return k.field(t, alias, f)
	})
}

// build writes json_build_object over already collected fields, each
// value written by value.
func (k *compilation) build(fields []graphql.CollectedField, value func(graphql.CollectedField) (string, error)) (string, error) {
	if len(fields) == 0 || len(fields) > maxObjectFields {
		return "", fallback("%d fields in one object", len(fields))
	}
	parts := make([]string, 0, 2*len(fields))
	for _, f := range fields {
		v, err := value(f)
		if err != nil {
			return "", err
		}
		parts = append(parts, literal(f.Alias), v)
	}
	return "json_build_object(" + strings.Join(parts, ", ") + ")", nil
}

// field is one field of an ent type's row.
func (k *compilation) field(t *Type, alias string, f graphql.CollectedField) (string, error) {
	if f.Name == "__typename" {
		return literal(t.Name), nil
	}
	if cf, ok := computed[t.Name+"."+f.Name]; ok {
		return cf(k, t, alias, f)
	}
	if !fromEntSchema(f.Definition) {
		return "", fallback("%s.%s is resolved in Go", t.Name, f.Name)
	}
	if len(f.Arguments) > 0 {
		return "", fallback("%s.%s has arguments", t.Name, f.Name)
	}
	if c, ok := t.Columns[f.Name]; ok {
		e, ok := columnExpr(alias, c)
		if !ok {
			return "", fallback("%s.%s: column kind", t.Name, f.Name)
		}
		return e, nil
	}
	if e, ok := t.Edges[f.Name]; ok {
		return k.edge(t, alias, f, e)
	}
	return "", fallback("%s.%s unknown", t.Name, f.Name)
}

// fromEntSchema: only fields that entgql generated are bound to ent's
// columns and edges; a field of a hand-written schema file has a resolver.
func fromEntSchema(def *ast.FieldDefinition) bool {
	return def != nil && def.Position != nil && def.Position.Src != nil &&
		strings.HasSuffix(def.Position.Src.Name, "ent.graphqls")
}

// edge writes a unique edge as an object (or null) and a list edge as an
// ordered array.
func (k *compilation) edge(t *Type, alias string, f graphql.CollectedField, e Edge) (string, error) {
	target, ok := k.c.types[e.Target]
	if !ok || e.Connection {
		return "", fallback("%s.%s: connection", t.Name, f.Name)
	}
	a := k.b.alias()
	where := col(a, e.RemoteColumn) + " = " + col(alias, e.LocalColumn)
	tenant, err := k.tenant(target, a)
	if err != nil {
		return "", err
	}
	if tenant != "" {
		where += " AND " + tenant
	}
	if live := liveRows(target, a); live != "" && !e.History {
		where += " AND " + live
	}
	obj, err := k.object(target, a, f.Selections)
	if err != nil {
		return "", err
	}
	from := " FROM " + ident(target.Table) + " " + a + " WHERE " + where
	if e.Unique {
		return "(SELECT " + obj + from + ")", nil
	}
	order, ok := listOrders[t.Name+"."+f.Name]
	if !ok {
		return "", fallback("%s.%s has no defined order", t.Name, f.Name)
	}
	return "(SELECT coalesce(json_agg(" + obj + " ORDER BY " + orderList(a, order) + "), '[]')" + from + ")", nil
}

// listOrders is the order of every plain list edge, the same as ent's
// (ent/schema orders these lists the same way; see docs/schema.md).
var listOrders = map[string][]string{
	"Invoice.lines":           {"position", "id"},
	"InvoiceLine.items":       {"id"},
	"ServerAccount.keys":      {"created_at", "id"},
	"Reseller.paymentMethods": {"created_at", "id"},
}

func orderList(alias string, columns []string) string {
	parts := make([]string, len(columns))
	for i, c := range columns {
		parts[i] = col(alias, c)
	}
	return strings.Join(parts, ", ")
}

// tenant is the declared tenancy rule of t for the row under alias, or ""
// when the viewer sees every row.
func (k *compilation) tenant(t *Type, alias string) (string, error) {
	v := k.req.Viewer
	switch {
	case t.Tenancy.Public:
		return "", nil
	case v.SeesAllTenants():
		return "", nil
	case t.Tenancy.SystemOnly:
		return "false", nil
	case t.Tenancy.Column != "" && v.Role == viewer.Reseller && v.ResellerID != "":
		return col(alias, t.Tenancy.Column) + " = " + k.resellerParam(), nil
	}
	return "", fallback("%s: no tenancy rule for this viewer", t.Name)
}

// liveRows is the condition that the row of t under alias has not been
// removed (ent/schema.Removal), or "" for a type whose rows are deleted.
// Lists, plain edges and aggregates read live rows only; node(id:) and
// History edges read removed ones too, as on the ent path.
func liveRows(t *Type, alias string) string {
	if t.RemovedColumn == "" {
		return ""
	}
	return col(alias, t.RemovedColumn) + " IS NULL"
}

// resellerParam is the viewer's reseller ID, one parameter however often
// the statement needs it.
func (k *compilation) resellerParam() string {
	if k.reseller == "" {
		k.reseller = k.b.arg(k.req.Viewer.ResellerID)
	}
	return k.reseller
}
