package sqlgraph

import (
	"encoding/json"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"

	"clnd/ent"
	"clnd/internal/accounts"
	"clnd/internal/ids"
	"clnd/internal/licensing"
	"clnd/internal/viewer"
)

// rootField compiles one root field of Query into a whole statement.
type rootField struct {
	compile func(k *compilation, f graphql.CollectedField) (string, error)
}

// roots is every root field the compiler knows; each mirrors its resolver
// in graph/*.resolvers.go.
var roots = map[string]rootField{
	"ipLicenses": {compile: connectionOf(connection{
		typ: "IPLicense", search: true, resellerArg: true,
		where: whereOf(func(w *ent.IPLicenseWhereInput) (func(*entsql.Selector), error) {
			licensing.CanonicalWhere(w)
			p, err := w.P()
			return p, emptyWhere(err, ent.ErrEmptyIPLicenseWhereInput)
		}),
		searchBy: func(s string) func(*entsql.Selector) { return licensing.SearchIPLicenses(s) },
	})},
	"serverAccounts": {compile: connectionOf(connection{
		typ: "ServerAccount", search: true, resellerArg: true,
		where: whereOf(func(w *ent.ServerAccountWhereInput) (func(*entsql.Selector), error) {
			p, err := w.P()
			return p, emptyWhere(err, ent.ErrEmptyServerAccountWhereInput)
		}),
		searchBy: func(s string) func(*entsql.Selector) { return licensing.SearchServerAccounts(s) },
	})},
	"invoices": {compile: connectionOf(connection{
		typ: "Invoice", resellerArg: true, defaultOrder: &order{field: "CREATED_AT", desc: true},
		where: whereOf(func(w *ent.InvoiceWhereInput) (func(*entsql.Selector), error) {
			p, err := w.P()
			return p, emptyWhere(err, ent.ErrEmptyInvoiceWhereInput)
		}),
	})},
	"transactions": {compile: connectionOf(connection{
		typ: "Transaction", resellerArg: true, defaultOrder: &order{field: "CREATED_AT", desc: true},
		where: whereOf(func(w *ent.TransactionWhereInput) (func(*entsql.Selector), error) {
			p, err := w.P()
			return p, emptyWhere(err, ent.ErrEmptyTransactionWhereInput)
		}),
	})},
	"resellers": {compile: connectionOf(connection{
		typ: "Reseller", search: true,
		where: whereOf(func(w *ent.ResellerWhereInput) (func(*entsql.Selector), error) {
			accounts.LiveResellerWhere(w)
			p, err := w.P()
			return p, emptyWhere(err, ent.ErrEmptyResellerWhereInput)
		}),
		searchBy: func(s string) func(*entsql.Selector) { return accounts.SearchResellers(s) },
	})},
	"viewer":           {compile: compileViewer},
	"products":         {compile: listOf("Product", "cln_type_code", "id")},
	"datacenters":      {compile: listOf("Datacenter", "code")},
	"apiTokens":        {compile: listOf("APIToken", "created_at", "id")},
	"backupPricePerGB": {compile: compileBackupPrice},
	"node":             {compile: compileNode},
	"accountSummary":   {compile: compileAccountSummary},
}

// compileNode mirrors Query.node: the ID's prefix names the table; a row
// another tenant owns is not found. An ID that is malformed or not found
// yields no row, and the field falls back to gqlgen for its error.
func compileNode(k *compilation, f graphql.CollectedField) (string, error) {
	id, ok := k.args(f)["id"].(string)
	if !ok {
		return "", fallback("node: id")
	}
	table, err := ids.Table(id)
	if err != nil {
		return "", fallback("node: %v", err)
	}
	t, ok := k.c.byTable[table]
	if !ok {
		return "", fallback("node: table %s", table)
	}
	a := k.b.alias()
	obj, err := k.object(t, a, f.Selections)
	if err != nil {
		return "", err
	}
	return k.byID(t, a, id, obj)
}

// byID selects value from the row of t with the id, under alias, if the
// viewer may see it; no row otherwise. A removed row is found: the ID names
// it on purpose (removal.Include on the ent path).
func (k *compilation) byID(t *Type, alias, id, value string) (string, error) {
	where := col(alias, "id") + " = " + k.b.arg(id)
	tenant, err := k.tenant(t, alias)
	if err != nil {
		return "", err
	}
	if tenant != "" {
		where += " AND " + tenant
	}
	return "SELECT " + value + " FROM " + ident(t.Table) + " " + alias + " WHERE " + where, nil
}

// compileAccountSummary mirrors Query.accountSummary: a reseller's own
// summary (naming another reseller is NOT_FOUND), or for an operator the
// reseller it names. Anything else falls back to gqlgen for its error.
func compileAccountSummary(k *compilation, f graphql.CollectedField) (string, error) {
	v := k.req.Viewer
	named, _ := k.args(f)["resellerID"].(string)
	id := named
	switch {
	case v.Role == viewer.Reseller && (named == "" || named == v.ResellerID):
		id = v.ResellerID
	case v.Role == viewer.Operator && named != "":
	default:
		return "", fallback("accountSummary: reseller")
	}
	t := k.c.types["Reseller"]
	a := k.b.alias()
	summary, err := resellerSummary(k, t, a, f)
	if err != nil {
		return "", err
	}
	return k.byID(t, a, id, summary)
}

// emptyWhere: an empty where input filters nothing, as WhereInput.Filter
// has it. Only the input itself being empty counts: an empty nested not/and/or
// is an error there (wrapped), so it falls back here.
func emptyWhere(err, empty error) error {
	if err == empty { //nolint:errorlint // the same identity test as ent's Filter
		return nil
	}
	return err
}

// whereOf decodes a where: argument into ent's generated WhereInput and
// returns its predicate, so a filter means exactly what it means on ent's
// path. An input the JSON decoding cannot take (a Money value) falls back.
func whereOf[W any](p func(*W) (func(*entsql.Selector), error)) func(any) (func(*entsql.Selector), error) {
	return func(raw any) (func(*entsql.Selector), error) {
		buf, err := json.Marshal(raw)
		if err != nil {
			return nil, fallback("where: %v", err)
		}
		w := new(W)
		if err := json.Unmarshal(buf, w); err != nil {
			return nil, fallback("where: %v", err)
		}
		pred, err := p(w)
		if err != nil {
			return nil, fallback("where: %v", err)
		}
		return pred, nil
	}
}

// listOf compiles a root list of every visible row of typ in a fixed order.
func listOf(typ string, orderColumns ...string) func(*compilation, graphql.CollectedField) (string, error) {
	return func(k *compilation, f graphql.CollectedField) (string, error) {
		if len(f.Arguments) > 0 {
			return "", fallback("%s takes no arguments here", f.Name)
		}
		t := k.c.types[typ]
		a := k.b.alias()
		obj, err := k.object(t, a, f.Selections)
		if err != nil {
			return "", err
		}
		tenant, err := k.tenant(t, a)
		if err != nil {
			return "", err
		}
		var conds []string
		if tenant != "" {
			conds = append(conds, tenant)
		}
		if live := liveRows(t, a); live != "" {
			conds = append(conds, live)
		}
		where := ""
		if len(conds) > 0 {
			where = " WHERE " + strings.Join(conds, " AND ")
		}
		return "SELECT coalesce(json_agg(" + obj + " ORDER BY " + orderList(a, orderColumns) + "), '[]') FROM " +
			ident(t.Table) + " " + a + where, nil
	}
}

// compileViewer mirrors Query.viewer: the role, and a reseller's own row.
// A reseller whose row is gone yields no row, and the field falls back to
// gqlgen for its error.
func compileViewer(k *compilation, f graphql.CollectedField) (string, error) {
	fields, err := k.collect(f.Selections, "Viewer")
	if err != nil {
		return "", err
	}
	v := k.req.Viewer
	role := "OPERATOR"
	if v.Role == viewer.Reseller {
		role = "RESELLER"
	}
	t := k.c.types["Reseller"]
	a := k.b.alias()
	obj, err := k.build(fields, func(f graphql.CollectedField) (string, error) {
		switch f.Name {
		case "__typename":
			return literal("Viewer"), nil
		case "role":
			return literal(role), nil
		case "reseller":
			if v.Role != viewer.Reseller {
				return "NULL::json", nil
			}
			return k.object(t, a, f.Selections)
		}
		return "", fallback("Viewer.%s", f.Name)
	})
	if err != nil {
		return "", err
	}
	if v.Role != viewer.Reseller {
		return "SELECT " + obj, nil
	}
	return "SELECT " + obj + " FROM " + ident(t.Table) + " " + a + " WHERE " + col(a, "id") + " = " + k.resellerParam(), nil
}

func compileBackupPrice(k *compilation, f graphql.CollectedField) (string, error) {
	return "SELECT to_json(" + moneyExpr(k.backupPerGB()) + ")", nil
}
