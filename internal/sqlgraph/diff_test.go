package sqlgraph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// world is a seeded database served twice: by an instance that compiles
// reads (internal/sqlgraph) and by one that runs every read on gqlgen.
type world struct {
	compiled, interpreted *apitest.Env
	tokens                map[string]string // viewer name → bearer token
}

// TestCompiledReadsMatchGqlgen is the differential suite: the README's and
// the API tests' read documents plus a generated corpus of random
// selections, arguments and viewers, each sent to both instances; the
// answers must be the same JSON, errors included.
func TestCompiledReadsMatchGqlgen(t *testing.T) {
	if !pgtest.Available() {
		t.Skip("PostgreSQL not available: the read compiler is PostgreSQL's")
	}
	w := seed(t)
	seedValue := time.Now().UnixNano()
	if s := os.Getenv("SQLGRAPH_SEED"); s != "" {
		seedValue, _ = strconv.ParseInt(s, 10, 64)
	}
	n := 2000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewSource(seedValue))
	g := newGenerator(rng, w)
	compiledBefore := w.compiledCount(t)
	for i, doc := range fixedDocuments {
		for viewer := range w.tokens {
			before := w.compiledCount(t)
			w.compare(t, fmt.Sprintf("fixed %d as %s", i, viewer), viewer, doc, nil)
			// The README's and docs' reads must not fall back.
			if !strings.Contains(doc, "# may fall back") && (viewer == "operator" || !strings.Contains(doc, "resellers")) {
				parsed, err := parser.ParseQuery(&ast.Source{Input: doc})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := w.compiledCount(t)-before, len(parsed.Operations[0].SelectionSet); got != want {
					t.Errorf("fixed %d as %s: %d of %d root fields compiled", i, viewer, got, want)
				}
			}
		}
	}
	for i := 0; i < n; i++ {
		viewer, doc := g.query()
		if !w.compare(t, fmt.Sprintf("generated %d (SQLGRAPH_SEED=%d)", i, seedValue), viewer, doc, g) {
			t.FailNow()
		}
	}
	compiled := w.compiledCount(t) - compiledBefore
	t.Logf("%d generated queries (SQLGRAPH_SEED=%d); %d root fields compiled", n, seedValue, compiled)
	if compiled < n/3 {
		t.Fatalf("only %d root fields were compiled: the suite would prove little", compiled)
	}
}

// compare sends doc as viewer to both instances and reports a difference.
func (w *world) compare(t *testing.T, name, viewer, doc string, g *generator) bool {
	t.Helper()
	token := w.tokens[viewer]
	want := raw(t, w.interpreted, token, doc)
	got := raw(t, w.compiled, token, doc)
	if g != nil {
		g.learn(want)
	}
	if d := sameJSON(want, got); d != "" {
		t.Errorf("%s: the compiled answer differs (%s)\nquery: %s\ngqlgen:   %s\ncompiled: %s", name, d, doc, clip(want), clip(got))
		return false
	}
	return true
}

func clip(b []byte) string {
	if len(b) > 4000 {
		return string(b[:4000]) + "…"
	}
	return string(b)
}

func raw(t *testing.T, e *apitest.Env, token, doc string) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": doc})
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(strconv.Itoa(resp.StatusCode)+" "), out...)
}

// sameJSON compares two answers ("<status> <body>") as apitest.SameAnswer
// does, and their HTTP statuses.
func sameJSON(a, b []byte) string {
	sa, ra, _ := bytes.Cut(a, []byte(" "))
	sb, rb, _ := bytes.Cut(b, []byte(" "))
	if !bytes.Equal(sa, sb) {
		return fmt.Sprintf("HTTP %s vs %s", sa, sb)
	}
	return apitest.SameAnswer(ra, rb)
}

func (w *world) compiledCount(t *testing.T) int {
	resp, err := http.Get(w.compiled.Server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "clnd_graphql_root_fields_total{") && strings.Contains(line, `path="compiled"`) {
			f := strings.Fields(line)
			n, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int(n)
		}
	}
	return total
}

// seed makes two resellers with everything a read can show: licenses with
// and without check-ins, backups, hostnames that need escaping or sort
// differently by case, server accounts with keys and servers, payment
// methods, top-ups, a billed month with lines and items, a license, a
// backup and a server account removed after billing (items that reach
// removed rows) and an account with nothing.
func seed(t *testing.T) *world {
	e := apitest.New(t, "postgres", apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true; c.PublicURL = "https://clnd.test" }))
	w := &world{compiled: e, tokens: map[string]string{"operator": e.OperatorToken}}
	hosts := []string{"web1.example.com", "Web2.example.com", "ßtraße.example", `quote"back\slash`, "<script>&amp;", "emoji😀.host", "", "zeta", "Alpha", "émile"}
	types := []string{"CLOUDLINUX_OS", "KERNELCARE", "IMUNIFY360_SINGLE_USER", "CLOUDLINUX_SOLO"}
	for r, login := range []string{"diffa", "diffb"} {
		res := e.Register(login)
		w.tokens[login] = e.APIToken(res.Token, "READ")
		var licenses []string
		for i := 0; i < 14+r*3; i++ {
			ip := fmt.Sprintf("203.0.113.%d", 10+r*50+i)
			licenses = append(licenses, e.AddLicense(res.Token, ip, types[i%len(types)], hosts[i%len(hosts)]))
			if i%3 == 0 {
				e.CheckInFrom(ip, hosts[i%len(hosts)])
			}
			if i%4 == 1 {
				e.Query(res.Token, `mutation($id: ID!, $gb: Int!) { activateBackup(input: {licenseID: $id, sizeGB: $gb, datacenter: "eu-central"}) { backup { id } } }`,
					map[string]any{"id": licenses[i], "gb": 10 + i}, nil)
			}
		}
		var accounts []string
		for a := 0; a < 3+r; a++ {
			var acc struct {
				CreateServerAccount struct{ ServerAccount struct{ ID string } }
			}
			e.Query(res.Token, `mutation($l: String!, $n: Int!) { createServerAccount(input: {login: $l, licenseLimit: $n, company: "Acme [\"\\u0001i\", \"rsl_x\"]", email: "x@example.com"}) { serverAccount { id } } }`,
				map[string]any{"l": fmt.Sprintf("%s-acc%d", login, a), "n": 2 + a}, &acc)
			accounts = append(accounts, acc.CreateServerAccount.ServerAccount.ID)
			for k := 0; k < a; k++ {
				var key struct {
					CreateActivationKey struct{ Key struct{ Token string } }
				}
				e.Query(res.Token, `mutation($id: ID!) { createActivationKey(serverAccountID: $id) { key { token } } }`,
					map[string]any{"id": acc.CreateServerAccount.ServerAccount.ID}, &key)
				e.Query("", `mutation($key: String!, $ip: String) { registerServer(input: {activationKey: $key, hostname: "srv", ip: $ip}) { credential } }`,
					map[string]any{"key": key.CreateActivationKey.Key.Token, "ip": fmt.Sprintf("198.51.100.%d", 10+r*20+a*3+k)}, nil)
			}
		}
		e.Query(res.Token, `mutation { addPaymentMethod(input: {gatewayToken: "tok_mastercard"}) { paymentMethod { id } } }`, nil, nil)
		e.Query(res.Token, `mutation { topUp(input: {amount: "12.34"}) { transaction { id } } }`, nil, nil)
		if r == 0 {
			e.Query(res.Token, `mutation { setAutopayment(input: {mode: AUTO_ADD_FUNDS, targetAmount: "500.00"}) { autopayment { mode } } }`, nil, nil)
		}
		defer func(token, license, backupOf, account string, r int) {
			// Removed after the month is billed: a license with its backup, a
			// backup, an account with keys and servers. Their items still
			// reach them; every list and summary leaves them out. The address
			// is licensed again and the license gets a new backup, so a
			// license has a removed and a live backup.
			e.Query(token, `mutation($id: ID!) { removeIPLicenses(ids: [$id]) { removedIDs } }`, map[string]any{"id": license}, nil)
			e.Query(token, `mutation($id: ID!) { deactivateBackup(licenseID: $id) { license { id } } }`, map[string]any{"id": backupOf}, nil)
			e.Query(token, `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": account}, nil)
			e.AddLicense(token, fmt.Sprintf("203.0.113.%d", 11+r*50), "KERNELCARE", "again")
			e.Query(token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 3, datacenter: "us-east"}) { backup { id } } }`,
				map[string]any{"id": backupOf}, nil)
		}(e.APIToken(res.Token, "READ_WRITE"), licenses[1], licenses[5], accounts[len(accounts)-1], r)
	}
	e.Register("diffempty")
	e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-11-01T00:00:10Z") { now } }`, nil, nil)
	e.Query(e.OperatorToken, `mutation { runBilling(period: "2026-10") { invoices { id } } }`, nil, nil)
	e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-11-04T07:30:00.123456Z") { now } }`, nil, nil)
	// One license checked in exactly the stale window (72 h) before now:
	// still ACTIVE, the boundary of IPLicense.status.
	e.CheckInFrom("203.0.113.10", "web1.example.com")
	e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-11-07T07:30:00.123456Z") { now } }`, nil, nil)
	e.CheckInFrom("203.0.113.11", "Web2.example.com")
	w.interpreted = apitest.Reopen(t, e, apitest.WithConfig(func(c *server.Config) { c.InterpretedReads = true }))
	return w
}
