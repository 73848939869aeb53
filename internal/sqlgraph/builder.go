package sqlgraph

import (
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// builder is the one place SQL text is written. Identifiers come only from
// the generated table and the root-field table; every value a client sends
// is a parameter ($n), never text in the statement.
type builder struct {
	sb      strings.Builder
	args    []any
	aliases int
}

func (b *builder) w(parts ...string) *builder {
	for _, p := range parts {
		b.sb.WriteString(p)
	}
	return b
}

// lateArg is a parameter that depends on the request, not on the document,
// its variables or the viewer: Statement.Bind fills it in, so that a cached
// statement serves every request of the same shape.
type lateArg int

const (
	lateStaleCutoff  lateArg = iota + 1 // IPLicense.status: now − the stale window
	lateOrigin                          // Invoice.downloadURL: the request's origin
	lateCheckoutBase                    // Checkout.redirectURL: origin + the sandbox page
)

// arg adds a parameter and returns its placeholder.
func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *builder) alias() string {
	b.aliases++
	return "t" + strconv.Itoa(b.aliases)
}

// ident quotes an identifier from the generated table.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func col(alias, column string) string { return alias + "." + ident(column) }

// literal quotes a constant the compiler chose (a JSON key, a type name).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// entPredicate renders ent predicates (generated WhereInput filters, search)
// against the table under alias, numbering their parameters after ours, so
// that where: and search: mean exactly what they mean on ent's path.
func (b *builder) entPredicate(table, alias string, preds ...func(*entsql.Selector)) string {
	sel := entsql.Dialect(dialect.Postgres).Select().From(entsql.Table(table).As(alias))
	for _, p := range preds {
		p(sel)
	}
	p := sel.P()
	if p == nil {
		return ""
	}
	p.SetDialect(dialect.Postgres)
	p.SetTotal(len(b.args))
	text, args := p.Query()
	b.args = append(b.args, args...)
	return text
}

// timeExpr writes a timestamptz as the API's Time: RFC 3339 in UTC with the
// fraction's trailing zeros trimmed, exactly as Go's time.RFC3339Nano.
func timeExpr(e string) string {
	return "(to_char(" + e + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')" +
		" || CASE WHEN extract(microseconds FROM " + e + ")::bigint % 1000000 = 0 THEN ''" +
		" ELSE '.' || rtrim(lpad((extract(microseconds FROM " + e + ")::bigint % 1000000)::text, 6, '0'), '0') END || 'Z')"
}

// moneyExpr writes integer cents as the API's Money, exactly as
// money.Cents.String: an optional minus, the whole dollars, two digits.
func moneyExpr(e string) string {
	return "(CASE WHEN " + e + " < 0 THEN '-' ELSE '' END || (abs(" + e + ") / 100)::text || '.' || lpad((abs(" + e + ") % 100)::text, 2, '0'))"
}

// columnExpr is a column's value as the API writes it.
func columnExpr(alias string, c Column) (string, bool) {
	e := col(alias, c.Name)
	if c.ZeroIfNull {
		switch c.Kind {
		case KindString:
			e = "coalesce(" + e + ", '')"
		case KindInt, KindMoney:
			e = "coalesce(" + e + ", 0)"
		case KindBool:
			e = "coalesce(" + e + ", false)"
		default:
			return "", false
		}
	}
	switch c.Kind {
	case KindString, KindInt, KindBool:
		return e, true
	case KindTime:
		return timeExpr(e), true
	case KindMoney:
		return moneyExpr(e), true
	}
	return "", false
}
