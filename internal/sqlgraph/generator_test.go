package sqlgraph_test

import (
	"fmt"
	"math/rand"
	"regexp"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"clnd/graph/generated"
)

// fixedDocuments are the reads of the README, the docs and the API tests'
// shapes: every one must compile and agree.
var fixedDocuments = []string{
	`{ invoices(first: 50) { edges { node { number type total periodStart periodEnd
	  lines { title quantity unitPrice subtotal product { type }
	    items { description periodStart periodEnd amount license { ip backup { sizeGB } } serverAccount { login } } } } } } }`,
	`{ viewer { role reseller { login balance status autopayment { mode minimumCharge }
	  summary { totalLicenses unusedLicenses licenseCostPerMonth ipLicenses } } }
	  serverAccounts(first: 10) { edges { node { login licenseLimit usedLicenses keys { token usage } } } } }`,
	`{ ipLicenses(first: 5, where: {type: CLOUDLINUX_OS}, search: "203.0.113.") { totalCount
	  pageInfo { hasNextPage endCursor }
	  edges { cursor node { id ip hostname status lastCheckIn product { name monthlyPrice } backup { sizeGB } } } } }`,
	`{ ipLicenses(last: 3, orderBy: {field: HOSTNAME, direction: DESC}) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { hostname createdAt } } } }`,
	`{ invoices(first: 2, orderBy: {field: NUMBER}) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { number downloadURL reseller { login } } } } }`,
	`{ transactions(first: 20) { totalCount edges { cursor node { id kind amount balanceAfter description createdAt invoice { number total } } } } }`,
	`{ products { id type name family clnTypeCode monthlyPrice } datacenters { code name } backupPricePerGB apiTokens { name scope createdAt lastUsedAt } }`,
	`{ resellers(first: 10, orderBy: {field: BALANCE, direction: DESC}) { totalCount edges { cursor node { login company balance status summary { totalLicenses licenseCostPerMonth } autopayment { mode threshold targetAmount minimumCharge } paymentMethods { kind label isDefault } } } } }`,
	`{ serverAccounts(first: 3, orderBy: {field: LICENSE_LIMIT, direction: DESC}) { edges { cursor node { login usedLicenses keys { token usage createdAt serverAccount { login } } } } } }`,
	`{ ipLicenses(first: 0) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor } } }`,
	`{ ipLicenses { totalCount } a: ipLicenses(first: 1) { edges { node { __typename id } } } }`,
	`{ ipLicenses(first: 7, orderBy: {field: LAST_CHECK_IN}) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { lastCheckIn status } } } }`,
	`{ ipLicenses(last: 7, orderBy: {field: LAST_CHECK_IN, direction: DESC}) { pageInfo { hasPreviousPage startCursor } edges { cursor node { lastCheckIn } } } }`,
	`# may fall back (not found)
	{ node(id: "ipl_01JD000000000000000000000X") { id } }`,
	`# may fall back (an operator must name the reseller)
	{ accountSummary { totalLicenses unusedLicenses licenseCostPerMonth ipLicenses } }`,
	`{ ipLicenses(first: 3) { edges { node { ip ... on Node { id } backup { managementURL datacenter { code } license { ip } } } } } }`,
	`{ invoices(first: 50) { edges { node { lines { items { license { id ip removedAt backup { id removedAt } }
	  backup { id removedAt sizeGB license { id removedAt } } serverAccount { id login removedAt usedLicenses keys { token } } } } } } } }`,
	`{ ipLicenses(first: 50) { totalCount edges { node { ip removedAt backup { sizeGB removedAt } } } }
	  serverAccounts(first: 50) { totalCount edges { node { login removedAt } } } }`,
}

// generator makes random read documents over the schema.
type generator struct {
	rng     *rand.Rand
	schema  *ast.Schema
	viewers []string
	cursors []string
	ids     []string
}

var (
	cursorRE = regexp.MustCompile(`"(?:cursor|startCursor|endCursor)"\s*:\s*"([^"]+)"`)
	idRE     = regexp.MustCompile(`"id"\s*:\s*"([a-z]+_[0-9A-Z]{26})"`)
)

func newGenerator(rng *rand.Rand, w *world) *generator {
	var viewers []string
	for v := range w.tokens {
		viewers = append(viewers, v)
	}
	sort.Strings(viewers)
	return &generator{rng: rng, schema: generated.NewExecutableSchema(generated.Config{}).Schema(), viewers: viewers}
}

// learn keeps the cursors and IDs an answer showed, to page with and to
// ask node(id:) for later.
func (g *generator) learn(answer []byte) {
	for _, m := range idRE.FindAllSubmatch(answer, -1) {
		if len(g.ids) < 500 {
			g.ids = append(g.ids, string(m[1]))
		} else {
			g.ids[g.rng.Intn(len(g.ids))] = string(m[1])
		}
	}
	for _, m := range cursorRE.FindAllSubmatch(answer, -1) {
		if len(g.cursors) < 500 {
			g.cursors = append(g.cursors, string(m[1]))
		} else {
			g.cursors[g.rng.Intn(len(g.cursors))] = string(m[1])
		}
	}
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *generator) pick(s []string) string { return s[g.rng.Intn(len(s))] }

var rootConnections = map[string]string{
	"ipLicenses": "IPLicense", "serverAccounts": "ServerAccount", "invoices": "Invoice",
	"transactions": "Transaction", "resellers": "Reseller",
}

var wheres = map[string][]string{
	"IPLicense": {`{type: CLOUDLINUX_OS}`, `{typeIn: [KERNELCARE, CLOUDLINUX_SOLO]}`, `{hostnameContainsFold: "EXAMPLE"}`,
		`{ipHasPrefix: "203.0.113.1"}`, `{lastCheckInIsNil: true}`, `{lastCheckInNotNil: true}`, `{createdAtGT: "2026-10-01T00:00:00Z"}`,
		`{or: [{type: KERNELCARE}, {hostname: "zeta"}]}`, `{not: {type: CLOUDLINUX_OS}}`, `{ip: "203.0.113.12"}`, `{hasResellerWith: [{login: "diffa"}]}`},
	"ServerAccount": {`{loginContains: "acc1"}`, `{licenseLimitGTE: 3}`, `{hasServers: true}`},
	"Invoice":       {`{type: INVOICE}`, `{typeNEQ: INVOICE}`, `{numberHasPrefix: "INV"}`, `{periodStartNotNil: true}`},
	"Transaction":   {`{kind: TOP_UP}`, `{kindIn: [DEPOSIT, CHARGE]}`, `{descriptionContainsFold: "top"}`},
	"Reseller":      {`{login: "diffa"}`, `{statusNEQ: PAST_DUE}`},
}

var searches = []string{"203.0.113.", "web", "EXAMPLE", "acc", "diff", "zz-none", " 203.0.113.1 ", "é"}

// query returns a viewer and a document of one to three root fields.
func (g *generator) query() (string, string) {
	viewer := g.pick(g.viewers)
	var roots []string
	for i := 0; i < 1+g.rng.Intn(2); i++ {
		roots = append(roots, g.root(fmt.Sprintf("r%d", i)))
	}
	return viewer, "{ " + strings.Join(roots, " ") + " }"
}

func (g *generator) root(alias string) string {
	names := []string{"ipLicenses", "ipLicenses", "serverAccounts", "invoices", "invoices", "transactions", "resellers",
		"viewer", "products", "datacenters", "apiTokens", "backupPricePerGB", "node", "node", "accountSummary"}
	name := g.pick(names)
	switch name {
	case "node":
		return alias + ": " + g.node()
	case "accountSummary":
		arg := ""
		if len(g.ids) > 0 && g.chance(0.5) {
			arg = fmt.Sprintf("(resellerID: %q)", g.pick(g.ids))
		}
		return alias + ": accountSummary" + arg + " " + g.selection(g.schema.Types["AccountSummary"], 1)
	}
	q := g.schema.Query
	def := q.Fields.ForName(name)
	prefix := ""
	if g.chance(0.3) {
		prefix = alias + ": "
	}
	if typ, ok := rootConnections[name]; ok {
		return prefix + name + g.connectionArgs(name, typ) + " " + g.connectionSelection(def.Type.Name(), typ, 0)
	}
	t := g.schema.Types[def.Type.Name()]
	if t.Kind == ast.Scalar {
		return prefix + name
	}
	return prefix + name + " " + g.selection(t, 0)
}

// nodeTypes are the types node(id:) can answer.
var nodeTypes = []string{"IPLicense", "Backup", "Invoice", "InvoiceLine", "InvoiceItem", "Reseller", "ServerAccount",
	"ActivationKey", "Server", "Transaction", "PaymentMethod", "Product", "Datacenter", "APIToken"}

func (g *generator) node() string {
	id := "ipl_01JD000000000000000000000X"
	if len(g.ids) > 0 && g.chance(0.95) {
		id = g.pick(g.ids)
	}
	parts := []string{"id"}
	for i := 0; i < 1+g.rng.Intn(3); i++ {
		t := g.pick(nodeTypes)
		parts = append(parts, "... on "+t+" "+g.selection(g.schema.Types[t], 1))
	}
	if g.chance(0.3) {
		parts = append(parts, "__typename")
	}
	g.rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return fmt.Sprintf("node(id: %q) { %s }", id, strings.Join(parts, " "))
}

func (g *generator) connectionArgs(name, typ string) string {
	var args []string
	n := g.rng.Intn(13)
	if g.chance(0.7) {
		args = append(args, fmt.Sprintf("first: %d", n))
	} else {
		args = append(args, fmt.Sprintf("last: %d", n))
	}
	if g.chance(0.5) {
		enum := g.schema.Types[typ+"OrderField"]
		if enum != nil {
			dir := g.pick([]string{"ASC", "DESC", ""})
			o := "field: " + enum.EnumValues[g.rng.Intn(len(enum.EnumValues))].Name
			if dir != "" {
				o += ", direction: " + dir
			}
			args = append(args, "orderBy: {"+o+"}")
		}
	}
	if ws := wheres[typ]; len(ws) > 0 && g.chance(0.3) {
		args = append(args, "where: "+g.pick(ws))
	}
	if name != "invoices" && name != "transactions" && g.chance(0.2) {
		args = append(args, fmt.Sprintf("search: %q", g.pick(searches)))
	}
	if len(g.cursors) > 0 && g.chance(0.35) {
		args = append(args, fmt.Sprintf("%s: %q", g.pick([]string{"after", "before"}), g.pick(g.cursors)))
	} else if g.chance(0.02) {
		args = append(args, `after: "bad-cursor"`)
	}
	return "(" + strings.Join(args, ", ") + ")"
}

func (g *generator) connectionSelection(connType, nodeType string, depth int) string {
	var parts []string
	if g.chance(0.5) {
		parts = append(parts, "totalCount")
	}
	if g.chance(0.4) {
		var info []string
		for _, f := range []string{"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"} {
			if g.chance(0.6) {
				info = append(info, f)
			}
		}
		if len(info) == 0 {
			info = []string{"endCursor"}
		}
		parts = append(parts, "pageInfo { "+strings.Join(info, " ")+" }")
	}
	if len(parts) == 0 || g.chance(0.8) {
		edge := []string{"node " + g.selection(g.schema.Types[nodeType], depth+1)}
		if g.chance(0.5) {
			edge = append(edge, "cursor")
		}
		if g.chance(0.1) {
			edge = append(edge, "__typename")
		}
		g.rng.Shuffle(len(edge), func(i, j int) { edge[i], edge[j] = edge[j], edge[i] })
		parts = append(parts, "edges { "+strings.Join(edge, " ")+" }")
	}
	if g.chance(0.05) {
		parts = append(parts, "__typename")
	}
	if g.chance(0.03) {
		parts = append(parts, g.pick([]string{"t: totalCount", "e: edges { cursor }", "p: pageInfo { hasNextPage }"}))
	}
	g.rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return "{ " + strings.Join(parts, " ") + " }"
}

// selection picks fields of an object type, recursing into objects.
func (g *generator) selection(t *ast.Definition, depth int) string {
	var parts []string
	for i, f := range t.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		required := false
		for _, a := range f.Arguments {
			if a.Type.NonNull && a.DefaultValue == nil {
				required = true
			}
		}
		if required {
			continue
		}
		ft := g.schema.Types[f.Type.Name()]
		name := f.Name
		if g.chance(0.08) {
			name = fmt.Sprintf("al%d: %s", i, f.Name)
		}
		switch {
		case ft.Kind == ast.Scalar || ft.Kind == ast.Enum:
			if g.chance(0.5) {
				parts = append(parts, name)
			}
		case ft.Kind == ast.Object && strings.HasSuffix(ft.Name, "Connection"):
			if depth < 3 && g.chance(0.04) {
				parts = append(parts, name+"(first: 2) "+g.connectionSelection(ft.Name, strings.TrimSuffix(ft.Name, "Connection"), depth+1))
			}
		case ft.Kind == ast.Object:
			if depth < 4 && g.chance(0.3) {
				parts = append(parts, name+" "+g.selection(ft, depth+1))
			}
		}
	}
	if g.chance(0.1) {
		parts = append(parts, "__typename")
	}
	if len(parts) == 0 {
		parts = append(parts, g.leaf(t))
	}
	if g.chance(0.1) && len(parts) > 1 {
		k := g.rng.Intn(len(parts))
		parts[k] = "... on " + t.Name + " { " + parts[k] + " }"
	}
	if g.chance(0.05) && len(t.Interfaces) > 0 {
		parts = append(parts, "... on Node { id }")
	}
	return "{ " + strings.Join(parts, " ") + " }"
}

func (g *generator) leaf(t *ast.Definition) string {
	for _, f := range t.Fields {
		ft := g.schema.Types[f.Type.Name()]
		if (ft.Kind == ast.Scalar || ft.Kind == ast.Enum) && len(f.Arguments) == 0 {
			return f.Name
		}
	}
	return "__typename"
}
