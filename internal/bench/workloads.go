package bench

import (
	"fmt"
	"strings"
)

// Workload is one read the benchmark measures: a GraphQL document served by
// clnd, and one hand-written SQL statement that builds the same JSON inside
// PostgreSQL, served through the same HTTP stack.
type Workload struct {
	Name  string // W1, W2, W3
	Title string
	// Document is the GraphQL query; $first is the page size.
	Document string
	// SQL returns the whole "data" object of the response as one json
	// value. Its arguments are those of args, in order.
	SQL  string
	args func(p baselineParams) []any
}

// baselineParams are what the hand-written statements are parameterised by.
type baselineParams struct {
	resellerID *string // nil for an operator
	first      int
	// for W2's autopayment and W3's status
	minimumRepay string
	now          string // RFC 3339
	staleAfter   string // a PostgreSQL interval
}

// The search term and type of W3: every benchmark hostname ends in
// ".bench.example", so the term matches each of the reseller's licenses of
// the type.
const (
	w3Search = "bench"
	w3Type   = "CLOUDLINUX_OS"
)

// Workloads are W1, W2 and W3 of docs/performance.md.
var Workloads = []Workload{
	{
		Name:  "W1",
		Title: "partner fetch: invoices with lines, product, items, license { ip backup }, serverAccount",
		Document: `query W1($first: Int) { invoices(first: $first) { edges { node { number type total periodStart periodEnd ` +
			`lines { title quantity unitPrice subtotal product { type } ` +
			`items { description periodStart periodEnd amount license { ip backup { sizeGB } } serverAccount { login } } } } } } }`,
		SQL: w1SQL,
		args: func(p baselineParams) []any {
			return []any{p.resellerID, p.first}
		},
	},
	{
		Name:  "W2",
		Title: "dashboard: viewer with reseller, autopayment and summary; serverAccounts with keys",
		Document: `query W2($first: Int) { viewer { role reseller { login balance status autopayment { mode minimumCharge } ` +
			`summary { totalLicenses unusedLicenses licenseCostPerMonth ipLicenses } } } ` +
			`serverAccounts(first: $first) { edges { node { login licenseLimit usedLicenses keys { token usage } } } } }`,
		SQL: w2SQL,
		args: func(p baselineParams) []any {
			return []any{p.resellerID, p.first, p.minimumRepay}
		},
	},
	{
		Name:  "W3",
		Title: fmt.Sprintf("license search: ipLicenses(where: {type: %s}, search: %q) with totalCount", w3Type, w3Search),
		Document: `query W3($first: Int) { ipLicenses(first: $first, where: {type: ` + w3Type + `}, search: "` + w3Search + `") { ` +
			`totalCount pageInfo { hasNextPage endCursor } ` +
			`edges { cursor node { id ip hostname status lastCheckIn product { name monthlyPrice } backup { sizeGB } } } } }`,
		SQL: w3SQL,
		args: func(p baselineParams) []any {
			return []any{p.resellerID, p.first, w3Type, likePrefix(strings.ToLower(w3Search)), likeContains(w3Search), p.now, p.staleAfter}
		},
	},
}

// money formats integer cents as the API's Money ("-3.50"), like internal/money.
func money(cents string) string {
	return fmt.Sprintf(`(CASE WHEN %[1]s < 0 THEN '-' ELSE '' END || (abs(%[1]s) / 100)::text || '.' || lpad((abs(%[1]s) %% 100)::text, 2, '0'))`, cents)
}

// timestamp formats a timestamptz as the API's Time: RFC 3339 in UTC with
// as many fraction digits as needed (Go's time.RFC3339Nano), null for null.
// Trailing zeros go, then a bare '.'; the seconds' digits are safe behind it.
func timestamp(t string) string {
	return fmt.Sprintf(`(rtrim(rtrim(to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z')`, t)
}

// cursor is entgql's opaque cursor of a row ordered by ID alone: unpadded
// base64 of the MessagePack map {"i": id}.
func cursor(id string) string {
	return fmt.Sprintf(`translate(encode('\x81a169'::bytea || `+
		`(CASE WHEN octet_length(%[1]s) < 32 THEN set_byte('\xa0'::bytea, 0, 160 + octet_length(%[1]s)) `+
		`ELSE set_byte('\xd900'::bytea, 1, octet_length(%[1]s)) END) || convert_to(%[1]s, 'UTF8'), 'base64'), E'=\n', '')`, id)
}

// likePrefix and likeContains are LIKE patterns of a literal term, escaped
// as ent's HasPrefix and ContainsFold escape it.
func likePrefix(term string) string   { return likeEscape.Replace(term) + "%" }
func likeContains(term string) string { return "%" + likeEscape.Replace(term) + "%" }

var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Every table is filtered by the reseller ($1), as clnd's privacy rules
// filter it, unless $1 is null (an operator, who sees every tenant; the
// planner drops the test, since lib/pq sends the arguments with the
// statement); products are shared by all. Lists keep clnd's orders: invoices
// newest first, nested lines by position, items and everything else by ID.
var w1SQL = `SELECT json_build_object('invoices', json_build_object('edges', coalesce((
  SELECT json_agg(json_build_object('node', json_build_object(
    'number', i.number,
    'type', i.type,
    'total', ` + money("i.total") + `,
    'periodStart', ` + timestamp("i.period_start") + `,
    'periodEnd', ` + timestamp("i.period_end") + `,
    'lines', (
      SELECT coalesce(json_agg(json_build_object(
        'title', l.title,
        'quantity', l.quantity,
        'unitPrice', ` + money("l.unit_price") + `,
        'subtotal', ` + money("l.subtotal") + `,
        'product', (SELECT json_build_object('type', p.type) FROM products p WHERE p.id = l.product_id),
        'items', (
          SELECT coalesce(json_agg(json_build_object(
            'description', it.description,
            'periodStart', ` + timestamp("it.period_start") + `,
            'periodEnd', ` + timestamp("it.period_end") + `,
            'amount', ` + money("it.amount") + `,
            'license', (
              SELECT json_build_object('ip', lic.ip, 'backup', (
                SELECT json_build_object('sizeGB', b.size_gb) FROM backups b WHERE b.live_license_id = lic.id AND ($1::text IS NULL OR b.reseller_id = $1)))
              FROM ip_licenses lic WHERE lic.id = it.license_id AND ($1::text IS NULL OR lic.reseller_id = $1)),
            'serverAccount', (
              SELECT json_build_object('login', sa.login)
              FROM server_accounts sa WHERE sa.id = it.server_account_id AND ($1::text IS NULL OR sa.reseller_id = $1))
          ) ORDER BY it.id), '[]')
          FROM invoice_items it WHERE it.line_id = l.id AND ($1::text IS NULL OR it.reseller_id = $1))
      ) ORDER BY l.position, l.id), '[]')
      FROM invoice_lines l WHERE l.invoice_id = i.id AND ($1::text IS NULL OR l.reseller_id = $1))
  )) ORDER BY i.created_at DESC, i.id DESC)
  FROM (SELECT * FROM invoices WHERE ($1::text IS NULL OR reseller_id = $1) ORDER BY created_at DESC, id DESC LIMIT $2) i
), '[]')))`

// The summary is internal/accounts.Summarize: Σ IP-license prices + Σ
// server-account limits × the CLOUDLINUX_OS price + Σ backup GB × the price
// per GB. $3 is autopay.MinimumRepay as Money.
var w2SQL = `SELECT json_build_object(
  'viewer', json_build_object('role', CASE WHEN $1::text IS NULL THEN 'OPERATOR' ELSE 'RESELLER' END, 'reseller', (
    SELECT json_build_object(
      'login', r.login,
      'balance', ` + money("r.balance") + `,
      'status', r.status,
      'autopayment', json_build_object('mode', r.autopay_mode, 'minimumCharge', CASE WHEN r.autopay_mode = 'AUTO_REPAY' THEN $3::text END),
      'summary', (
        SELECT json_build_object(
          'totalLicenses', lic.n + acc.lim,
          'unusedLicenses', acc.lim - acc.used,
          'licenseCostPerMonth', ` + money("(lic.cost + acc.lim * os.monthly_price + bk.gb * gb.price)") + `,
          'ipLicenses', lic.n)
        FROM (SELECT count(*) AS n, coalesce(sum(p.monthly_price), 0)::bigint AS cost
              FROM ip_licenses l JOIN products p ON p.type = l.type WHERE l.reseller_id = r.id AND l.removed_at IS NULL) lic,
             (SELECT coalesce(sum(license_limit), 0)::bigint AS lim, coalesce(sum(used_licenses), 0)::bigint AS used
              FROM server_accounts WHERE reseller_id = r.id AND removed_at IS NULL) acc,
             (SELECT coalesce(sum(size_gb), 0)::bigint AS gb FROM backups WHERE reseller_id = r.id AND removed_at IS NULL) bk,
             (SELECT monthly_price FROM products WHERE type = 'CLOUDLINUX_OS') os,
             (SELECT value::bigint AS price FROM settings WHERE id = 'backup.price_per_gb_cents') gb))
    FROM resellers r WHERE r.id = $1)),
  'serverAccounts', json_build_object('edges', coalesce((
    SELECT json_agg(json_build_object('node', json_build_object(
      'login', sa.login,
      'licenseLimit', sa.license_limit,
      'usedLicenses', sa.used_licenses,
      'keys', (
        SELECT coalesce(json_agg(json_build_object('token', k.token, 'usage', k.usage) ORDER BY k.id), '[]')
        FROM activation_keys k WHERE k.server_account_id = sa.id AND ($1::text IS NULL OR k.reseller_id = $1))
    )) ORDER BY sa.id)
    FROM (SELECT * FROM server_accounts WHERE removed_at IS NULL AND ($1::text IS NULL OR reseller_id = $1) ORDER BY id LIMIT $2) sa
  ), '[]')))`

// $3 type, $4 and $5 the search term as an IP prefix and a hostname
// substring, $6 now and $7 the stale window for status; one row past the
// page says whether there is a next page.
var w3SQL = `WITH matched AS (
  SELECT * FROM ip_licenses
  WHERE removed_at IS NULL AND ($1::text IS NULL OR reseller_id = $1) AND type = $3 AND (ip LIKE $4 OR hostname ILIKE $5)
), page AS (
  SELECT * FROM matched ORDER BY id LIMIT $2 + 1
), shown AS (
  SELECT * FROM page ORDER BY id LIMIT $2
)
SELECT json_build_object('ipLicenses', json_build_object(
  'totalCount', (SELECT count(*) FROM matched),
  'pageInfo', json_build_object(
    'hasNextPage', (SELECT count(*) FROM page) > $2,
    'endCursor', (SELECT ` + cursor("id") + ` FROM shown ORDER BY id DESC LIMIT 1)),
  'edges', coalesce((
    SELECT json_agg(json_build_object('cursor', ` + cursor("s.id") + `, 'node', json_build_object(
      'id', s.id,
      'ip', s.ip,
      'hostname', s.hostname,
      'status', CASE WHEN s.last_check_in IS NULL THEN 'NEVER_CHECKED_IN'
                     WHEN $6::timestamptz - s.last_check_in > $7::interval THEN 'STALE'
                     ELSE 'ACTIVE' END,
      'lastCheckIn', ` + timestamp("s.last_check_in") + `,
      'product', (SELECT json_build_object('name', p.name, 'monthlyPrice', ` + money("p.monthly_price") + `) FROM products p WHERE p.id = s.product_id),
      'backup', (SELECT json_build_object('sizeGB', b.size_gb) FROM backups b WHERE b.live_license_id = s.id AND ($1::text IS NULL OR b.reseller_id = $1))
    )) ORDER BY s.id)
    FROM shown s
  ), '[]')))`
