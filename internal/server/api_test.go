package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/seed"
	"clnd/internal/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type page struct {
	TotalCount int `json:"totalCount"`
	PageInfo   struct {
		HasNextPage bool   `json:"hasNextPage"`
		EndCursor   string `json:"endCursor"`
	} `json:"pageInfo"`
	Edges []struct {
		Cursor string          `json:"cursor"`
		Node   json.RawMessage `json:"node"`
	} `json:"edges"`
}

func seedDemo(t *testing.T, e *apitest.Env) {
	t.Helper()
	if _, err := seed.Demo(e.Ctx(), e.DB.Client); err != nil {
		t.Fatal(err)
	}
}

func TestOperatorPagesThroughDemoLicenses(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seedDemo(t, e)
		const q = `query($after: Cursor) {
			ipLicenses(first: 3, after: $after) {
				totalCount
				pageInfo { hasNextPage endCursor }
				edges { cursor node { id ip type hostname status createdAt product { name monthlyPrice } reseller { login } } }
			}
		}`
		seen := map[string]bool{}
		var after any
		for pages := 0; ; pages++ {
			var out struct{ IPLicenses page }
			e.Query(e.OperatorToken, q, map[string]any{"after": after}, &out)
			p := out.IPLicenses
			if p.TotalCount != 8 {
				t.Fatalf("totalCount = %d, want the demo's 8", p.TotalCount)
			}
			for _, edge := range p.Edges {
				var n struct{ ID, IP string }
				_ = json.Unmarshal(edge.Node, &n)
				if edge.Cursor == "" || !strings.HasPrefix(n.ID, "ipl_") || seen[n.ID] {
					t.Fatalf("bad or repeated edge %s", edge.Node)
				}
				seen[n.ID] = true
			}
			if !p.PageInfo.HasNextPage {
				break
			}
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			after = p.PageInfo.EndCursor
		}
		if len(seen) != 8 {
			t.Fatalf("paged through %d licenses, want 8", len(seen))
		}
	})
}

func TestInvoicesWithLinesAndItems(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seedDemo(t, e)
		var out struct {
			Invoices struct {
				Edges []struct {
					Node struct {
						Number, Type, Total string
						Lines               []struct {
							Title    string
							Quantity int
							Subtotal string
							Items    []struct {
								Amount  string
								License *struct{ IP string }
							}
						}
					}
				}
			}
			Transactions struct {
				Edges []struct {
					Node struct{ Amount, BalanceAfter string }
				}
			}
			Resellers struct {
				Edges []struct{ Node struct{ Balance string } }
			}
		}
		e.Query(e.OperatorToken, `{
			invoices(where: {type: INVOICE}) { edges { node { number type total
				lines { title quantity subtotal items { amount license { ip } } } } } }
			transactions(first: 100) { edges { node { amount balanceAfter } } }
			resellers { edges { node { balance } } }
		}`, nil, &out)
		if len(out.Invoices.Edges) == 0 {
			t.Fatal("the demo has no monthly invoices")
		}
		for _, edge := range out.Invoices.Edges {
			inv := edge.Node
			var total int64
			for _, l := range inv.Lines {
				var sub int64
				for _, it := range l.Items {
					sub += cents(t, it.Amount)
				}
				if sub != cents(t, l.Subtotal) {
					t.Errorf("invoice %s line %q: items add to %d, subtotal %s", inv.Number, l.Title, sub, l.Subtotal)
				}
				total += sub
			}
			if total != cents(t, inv.Total) {
				t.Errorf("invoice %s: lines add to %d, total %s", inv.Number, total, inv.Total)
			}
		}
		// The balance is the sum of the transactions.
		var sum int64
		for _, tx := range out.Transactions.Edges {
			sum += cents(t, tx.Node.Amount)
		}
		if got := cents(t, out.Resellers.Edges[0].Node.Balance); got != sum {
			t.Fatalf("balance %d != Σ transactions %d", got, sum)
		}
	})
}

func cents(t *testing.T, s string) int64 {
	t.Helper()
	var whole, frac int64
	neg := strings.HasPrefix(s, "-")
	if _, err := fmt.Sscanf(strings.TrimPrefix(s, "-"), "%d.%02d", &whole, &frac); err != nil {
		t.Fatalf("bad Money %q: %v", s, err)
	}
	v := whole*100 + frac
	if neg {
		v = -v
	}
	return v
}

func TestNodeAndNodes(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seedDemo(t, e)
		var list struct{ IPLicenses page }
		e.Query(e.OperatorToken, `{ ipLicenses(first: 2) { edges { node { id } } } }`, nil, &list)
		var ids []string
		for _, edge := range list.IPLicenses.Edges {
			var n struct{ ID string }
			_ = json.Unmarshal(edge.Node, &n)
			ids = append(ids, n.ID)
		}
		var out struct {
			Node  struct{ ID, IP string }
			Nodes []struct{ ID string }
		}
		e.Query(e.OperatorToken, `query($id: ID!, $ids: [ID!]!) {
			node(id: $id) { id ... on IPLicense { ip } }
			nodes(ids: $ids) { id }
		}`, map[string]any{"id": ids[0], "ids": ids}, &out)
		if out.Node.ID != ids[0] || out.Node.IP == "" || len(out.Nodes) != 2 {
			t.Fatalf("node/nodes answered %+v", out)
		}
		// Every node type resolves by its prefix.
		var products struct{ Products []struct{ ID string } }
		e.Query(e.OperatorToken, `{ products { id } }`, nil, &products)
		e.Query(e.OperatorToken, `query($id: ID!) { node(id: $id) { id ... on Product { type } } }`,
			map[string]any{"id": products.Products[0].ID}, nil)

		// A well-formed ID that does not exist is NOT_FOUND; a malformed one BAD_USER_INPUT.
		missing := ids[0][:len(ids[0])-4] + "ZZZZ"
		e.Expect("NOT_FOUND", "", e.OperatorToken, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": missing})
		e.Expect("BAD_USER_INPUT", "id", e.OperatorToken, `{ node(id: "garbage") { id } }`, nil)
		e.Expect("BAD_USER_INPUT", "id", e.OperatorToken, `{ node(id: "xyz_01JD3QZ6W3J5P8Q3S7T0V1W2X3") { id } }`, nil)
		e.Expect("BAD_USER_INPUT", "ids", e.OperatorToken, `{ nodes(ids: ["nope"]) { id } }`, nil)
		many := make([]string, 101)
		for i := range many {
			many[i] = ids[0]
		}
		e.Expect("BAD_USER_INPUT", "ids", e.OperatorToken, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": many})
	})
}

func TestInputLimitsAndErrors(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		tok := e.OperatorToken
		e.Expect("BAD_USER_INPUT", "first", tok, `{ ipLicenses(first: 1000) { totalCount } }`, nil)
		e.Expect("BAD_USER_INPUT", "last", tok, `{ ipLicenses(last: -1) { totalCount } }`, nil)
		e.Expect("BAD_USER_INPUT", "first", tok, `{ resellers { edges { node { ipLicenses(first: 101) { totalCount } } } } }`, nil)
		e.Expect("UNAUTHENTICATED", "", "", `{ ipLicenses { totalCount } }`, nil)
		e.Expect("UNAUTHENTICATED", "", "clnd_op_not-a-real-token", `{ products { id } }`, nil)
		// Malformed Money, in a literal and in a variable.
		e.Expect("BAD_USER_INPUT", "balanceGT", tok, `{ resellers(where: {balanceGT: "1.234"}) { totalCount } }`, nil)
		e.Expect("BAD_USER_INPUT", "balanceGT", tok, `query($m: Money) { resellers(where: {balanceGT: $m}) { totalCount } }`, map[string]any{"m": "1e3"})
		e.Expect("BAD_USER_INPUT", "balanceGT", tok, `query($m: Money) { resellers(where: {balanceGT: $m}) { totalCount } }`, map[string]any{"m": 12.5})
		e.Expect("BAD_USER_INPUT", "createdAtGT", tok, `{ ipLicenses(where: {createdAtGT: "yesterday"}) { totalCount } }`, nil)
		e.Expect("BAD_USER_INPUT", "after", tok, `{ ipLicenses(after: "not-a-cursor") { totalCount } }`, nil)
		e.Expect("BAD_USER_INPUT", "", tok, `{ ipLicenses { nope } }`, nil)
		e.Expect("BAD_USER_INPUT", "", tok, `{ ipLicenses {`, nil)

		// Deep nesting is refused before anything runs.
		deep := `{ ipLicenses { edges { node { reseller { ipLicenses { edges { node { reseller { ipLicenses { edges { node { reseller { login } } } } } } } } } } } } }`
		e.Expect("QUERY_TOO_COMPLEX", "", tok, deep, nil)
		// So are wide pages nested in wide pages.
		wide := `{ resellers(first: 100) { edges { node { ipLicenses(first: 100) { edges { node { id ip hostname type createdAt } } } } } } }`
		e.Expect("QUERY_TOO_COMPLEX", "", tok, wide, nil)

		// A body over the limit is refused with 413.
		big := `{"query":"{ products { id } }","variables":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
		if r := e.PostRaw(tok, []byte(big)); r.Status != http.StatusRequestEntityTooLarge || r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("oversized body: HTTP %d %s", r.Status, r.Raw)
		}
		// A malformed Authorization header is refused outright.
		r := e.Do(apitest.Request{Query: `{ products { id } }`, Header: map[string]string{"Authorization": "Basic abc"}})
		if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" ||
			!strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("Basic auth: HTTP %d, WWW-Authenticate %q: %s", r.Status, r.Header.Get("WWW-Authenticate"), r.Raw)
		}
		// So is a token clnd did not issue; both name the scheme (RFC 6750).
		r = e.Do(apitest.Request{Query: `{ products { id } }`, Token: "clnd_api_not_a_token"})
		if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" ||
			r.Header.Get("WWW-Authenticate") != `Bearer realm="clnd", error="invalid_token"` {
			t.Fatalf("unknown token: HTTP %d, WWW-Authenticate %q: %s", r.Status, r.Header.Get("WWW-Authenticate"), r.Raw)
		}
		// Refusals before GraphQL runs read as its answers do: message first.
		if !strings.HasPrefix(string(r.Raw), `{"errors":[{"message":`) {
			t.Fatalf("unknown token: the body is %s", r.Raw)
		}
	})
}

func TestSandboxClock(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		var out struct {
			Clock struct {
				Now     time.Time
				Sandbox bool
			}
		}
		e.Query("", `{ clock { now sandbox } }`, nil, &out)
		if !out.Clock.Sandbox || !out.Clock.Now.Equal(apitest.Start) {
			t.Fatalf("clock = %+v, want sandbox at %v", out.Clock, apitest.Start)
		}
		to := apitest.Start.Add(36 * time.Hour)
		var adv struct{ AdvanceClock struct{ Now time.Time } }
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`, map[string]any{"to": to}, &adv)
		if !adv.AdvanceClock.Now.Equal(to) {
			t.Fatalf("advanceClock answered %v", adv.AdvanceClock.Now)
		}
		e.Query("", `{ clock { now } }`, nil, &out)
		if !out.Clock.Now.Equal(to) {
			t.Fatalf("clock after advance = %v, want %v", out.Clock.Now, to)
		}
		// Something created next is dated by the test clock, exactly.
		r := e.Register("clocked")
		lic := e.AddLicense(r.Token, "203.0.113.44", "KERNELCARE", "")
		var created struct {
			Viewer struct{ Reseller struct{ CreatedAt time.Time } }
			Node   struct{ CreatedAt time.Time }
		}
		e.Query(r.Token, `query($id: ID!) { viewer { reseller { createdAt } } node(id: $id) { ... on IPLicense { createdAt } } }`,
			map[string]any{"id": lic}, &created)
		if !created.Viewer.Reseller.CreatedAt.Equal(to) || !created.Node.CreatedAt.Equal(to) {
			t.Fatalf("created at %v and %v, want the test clock's %v", created.Viewer.Reseller.CreatedAt, created.Node.CreatedAt, to)
		}
		// Backward is refused; so are resellers and anonymous callers.
		e.Expect("BAD_USER_INPUT", "to", e.OperatorToken, `mutation { advanceClock(to: "2026-10-01T00:00:00Z") { now } }`, nil)
		e.Expect("UNAUTHENTICATED", "", "", `mutation { advanceClock(to: "2027-01-01T00:00:00Z") { now } }`, nil)
		e.Query("", `{ clock { now } }`, nil, &out)
		if !out.Clock.Now.Equal(to) {
			t.Fatalf("a refused advance moved the clock to %v", out.Clock.Now)
		}
		// The clock is kept in the database: a new instance on it sees the same time.
		e2 := apitest.Reopen(t, e)
		e2.Query("", `{ clock { now } }`, nil, &out)
		if !out.Clock.Now.Equal(to) {
			t.Fatalf("a second instance reads %v, want %v", out.Clock.Now, to)
		}
	})
}

func TestAdvanceClockOutsideSandboxIsForbidden(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		e.Expect("FORBIDDEN", "", e.OperatorToken, `mutation { advanceClock(to: "2030-01-01T00:00:00Z") { now } }`, nil)
		var out struct{ Clock struct{ Sandbox bool } }
		e.Query("", `{ clock { sandbox } }`, nil, &out)
		if out.Clock.Sandbox {
			t.Fatal("production mode reports sandbox: true")
		}
	}, apitest.WithoutSandbox())
}

func TestCatalogueAndViewer(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		var out struct {
			Viewer struct {
				Role     string
				Reseller *struct{ ID string }
			}
			Products []struct {
				Type, Name, Family, MonthlyPrice string
				ClnTypeCode                      int
			}
			Datacenters      []struct{ Code, Name string }
			BackupPricePerGB string
		}
		e.Query(e.OperatorToken, `{ viewer { role reseller { id } } products { type name family clnTypeCode monthlyPrice } datacenters { code name } backupPricePerGB }`, nil, &out)
		if out.Viewer.Role != "OPERATOR" || out.Viewer.Reseller != nil {
			t.Fatalf("viewer = %+v", out.Viewer)
		}
		codes := map[string]int{}
		for _, p := range out.Products {
			codes[p.Type] = p.ClnTypeCode
		}
		want := map[string]int{"CLOUDLINUX_OS": 1, "CLOUDLINUX_SOLO": 4, "KERNELCARE": 16, "KERNELCARE_PLUS": 17, "IMUNIFYAV_PLUS": 40,
			"IMUNIFY360_SINGLE_USER": 41, "IMUNIFY360_UP_TO_30_USERS": 42, "IMUNIFY360_UP_TO_250_USERS": 43, "IMUNIFY360_UNLIMITED": 49}
		if len(codes) != len(want) {
			t.Fatalf("products = %+v", out.Products)
		}
		for typ, code := range want {
			if codes[typ] != code {
				t.Errorf("%s has CLN type code %d, want %d", typ, codes[typ], code)
			}
		}
		if len(out.Datacenters) == 0 || out.BackupPricePerGB == "" {
			t.Fatalf("datacenters %v, backup price %q", out.Datacenters, out.BackupPricePerGB)
		}
	})
}

func TestHTTPSurface(t *testing.T) {
	e := apitest.New(t, "sqlite")
	get := func(path string, header map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, e.Server.URL+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	if resp, body := get("/healthz", nil); resp.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("/readyz", nil); resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}
	if resp, body := get("/", nil); resp.StatusCode != 200 || !strings.Contains(body, "/graphiql/graphiql.js") {
		t.Fatalf("GraphiQL page: %d", resp.StatusCode)
	}
	if resp, _ := get("/graphiql/graphiql.js", nil); resp.StatusCode != 200 {
		t.Fatalf("GraphiQL bundle: %d", resp.StatusCode)
	}
	// Introspection needs no token (GraphiQL loads the schema before one is pasted).
	if resp, body := get("/graphql?query=%7B__schema%7BqueryType%7Bname%7D%7D%7D", nil); resp.StatusCode != 200 || !strings.Contains(body, `"name":"Query"`) {
		t.Fatalf("anonymous introspection: %d %s", resp.StatusCode, body)
	}
	// GET /graphql answers queries.
	if resp, body := get("/graphql?query=%7Bclock%7Bsandbox%7D%7D", nil); resp.StatusCode != 200 || !strings.Contains(body, `"sandbox":true`) {
		t.Fatalf("GET /graphql: %d %s", resp.StatusCode, body)
	}
	// Metrics count requests and errors by code.
	e.Expect("UNAUTHENTICATED", "", "", `{ ipLicenses { totalCount } }`, nil)
	resp, body := get("/metrics", nil)
	for _, series := range []string{"clnd_http_requests_total", "clnd_http_request_duration_seconds", `clnd_graphql_errors_total{code="UNAUTHENTICATED"} 1`, `go_sql_open_connections{db_name="clnd"}`} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics (%d) lacks %s", resp.StatusCode, series)
		}
	}
	// The probes and the metrics answer whatever Authorization a scraper
	// or load balancer sends (its own Basic, a stale token).
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for _, auth := range []string{"Basic cHJvbTpzZWNyZXQ=", "Bearer clnd_api_not_a_token"} {
			if resp, _ := get(path, map[string]string{"Authorization": auth}); resp.StatusCode != 200 {
				t.Errorf("%s with Authorization %q: %d", path, auth, resp.StatusCode)
			}
		}
	}
	// Every response carries a request id.
	if resp, _ := get("/healthz", map[string]string{"X-Request-ID": "abc123"}); resp.Header.Get("X-Request-ID") != "abc123" {
		t.Fatalf("request id not echoed: %q", resp.Header.Get("X-Request-ID"))
	}
}

func TestCORS(t *testing.T) {
	e := apitest.New(t, "sqlite", apitest.WithConfig(func(c *server.Config) {
		c.CORSOrigins = []string{"https://dash.example"}
	}))
	preflight := func(origin string) string {
		req, _ := http.NewRequest(http.MethodOptions, e.Server.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin")
	}
	if got := preflight("https://dash.example"); got != "https://dash.example" {
		t.Fatalf("allowed origin answered %q", got)
	}
	if got := preflight("https://evil.example"); got != "" {
		t.Fatalf("other origin answered %q", got)
	}
}
