package server_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/server"
)

// A database that stops answering without closing its connections (a hung
// host, a network that drops packets: here every PostgreSQL process is
// stopped with SIGSTOP) holds the check-in flusher's statement until it
// answers again. Agents are not held with it: within the answer timeout
// they get 503 UNAVAILABLE with Retry-After ("not confirmed: check in
// again"), on the lean endpoint and the GraphQL mutation, and once the
// database answers again what was queued is written.
func TestFrozenDatabaseCheckInsAnswerUnavailable(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.AnswerTimeout = time.Second }))
	seller := e.Register("frozen-seller")
	e.AddLicense(seller.Token, "203.0.113.30", "CLOUDLINUX_OS", "")
	if r := e.LeanCheckInFrom("203.0.113.30", "before.example"); r.Status != http.StatusOK {
		t.Fatalf("check-in before the freeze: %d %s", r.Status, r.Raw)
	}

	pg.Freeze()
	unavailableWithin(t, "a lean check-in", func() (int, string, string) {
		r := e.LeanCheckInFrom("203.0.113.30", "frozen.example")
		return r.Status, r.Code(), r.Header.Get("Retry-After")
	})
	unavailableWithin(t, "a GraphQL check-in", func() (int, string, string) {
		r := e.CheckInFrom("203.0.113.30", "frozen-graphql.example")
		return r.Status, r.Code(), r.Header.Get("Retry-After")
	})

	pg.Thaw()
	// The check-ins answered "not confirmed" were queued: they are written
	// now, the newer last.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out struct {
			IPLicenses struct {
				Edges []struct{ Node struct{ Hostname string } }
			}
		}
		e.Query(seller.Token, `{ ipLicenses { edges { node { hostname } } } }`, nil, &out)
		if got := out.IPLicenses.Edges[0].Node.Hostname; got == "frozen-graphql.example" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after the thaw the license's hostname is %q, want the last check-in's", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := e.LeanCheckInFrom("203.0.113.30", "after.example"); r.Status != http.StatusOK {
		t.Fatalf("check-in after the thaw: %d %s", r.Status, r.Raw)
	}
}

// When the rows behind a subscription's event cannot be loaded in time (the
// database holds the load: here a lock on products, which the batch's
// license load reads), the event still arrives with the field null and an
// UNAVAILABLE error (not INTERNAL), and the subscription goes on: the next
// event is whole.
func TestSlowEventLoadIsUnavailableAndTheSubscriptionGoesOn(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutShadow())
	seller := e.Register("slow-load-seller")
	e.AddLicense(seller.Token, "203.0.113.31", "KERNELCARE", "")
	sub := e.SubscribeSSE(seller.Token, `subscription { checkIns { hostname license { id } } }`, nil)

	release := holdProducts(t, e)
	if r := e.LeanCheckInFrom("203.0.113.31", "slow.example"); r.Status != http.StatusOK {
		t.Fatalf("check-in: %d %s", r.Status, r.Raw)
	}
	type event struct {
		Data struct {
			CheckIns struct {
				Hostname string
				License  *struct{ ID string }
			}
		}
		Errors []struct {
			Path       []any
			Extensions struct{ Code string }
		}
	}
	next := func(what string) event {
		t.Helper()
		raw, ok := sub.Next(30 * time.Second)
		if !ok {
			t.Fatalf("%s: no event (the subscription ended or nothing came in 30 s)", what)
		}
		var ev event
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v: %s", what, err, raw)
		}
		return ev
	}
	ev := next("the event whose license load is held")
	if ev.Data.CheckIns.Hostname != "slow.example" || ev.Data.CheckIns.License != nil ||
		len(ev.Errors) != 1 || ev.Errors[0].Extensions.Code != "UNAVAILABLE" {
		t.Fatalf("the event whose license load is held: %+v; want its hostname, license null and one UNAVAILABLE error", ev)
	}
	release()
	if r := e.LeanCheckInFrom("203.0.113.31", "fast.example"); r.Status != http.StatusOK {
		t.Fatalf("check-in: %d %s", r.Status, r.Raw)
	}
	ev = next("the next event")
	if ev.Data.CheckIns.Hostname != "fast.example" || ev.Data.CheckIns.License == nil || len(ev.Errors) != 0 {
		t.Fatalf("the next event: %+v; want it whole", ev)
	}
}

// holdProducts locks the products table until release (or the test's end):
// a batch's license load, which reads products with each license, waits on
// it, while check-ins (which touch only ip_licenses) go through.
func holdProducts(t *testing.T, e *apitest.Env) (release func()) {
	t.Helper()
	tx, err := e.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if _, err := tx.Exec(`LOCK TABLE products IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return func() { _ = tx.Rollback() }
}

// A query or mutation on a frozen PostgreSQL that is handed an open pooled
// connection (or whose token check is) waited until the thaw; it is now
// answered 503 UNAVAILABLE a second after the request timeout, and the
// instance serves again after the thaw.
func TestFrozenDatabaseQueriesAnswerUnavailable(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.RequestTimeout = time.Second }))
	seller := e.Register("frozen-query-seller")
	query := apitest.Request{Token: seller.Token, Query: `{ ipLicenses { totalCount } }`}
	// Open connections for the pool to hand out: concurrent queries.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); e.Do(query) }()
	}
	wg.Wait()
	// Past the token check's cache (a second): it reads the database too.
	time.Sleep(1100 * time.Millisecond)

	pg.Freeze()
	for what, req := range map[string]apitest.Request{
		"a query": query,
		"a mutation": {Token: seller.Token,
			Query: `mutation { addIPLicense(input: {ip: "203.0.113.40", type: KERNELCARE}) { license { id } } }`},
		"an operator's query": {Token: e.OperatorToken, Query: `{ resellers { totalCount } }`},
	} {
		unavailableWithin(t, what, func() (int, string, string) {
			r := e.Do(req)
			return r.Status, r.Code(), r.Header.Get("Retry-After")
		})
	}

	pg.Thaw()
	servesAgain(t, e, query)
}

// servesAgain waits (at most 30 s) until the query answers without errors
// once the database has been thawed.
func servesAgain(t *testing.T, e *apitest.Env, query apitest.Request) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.Do(query)
		if r.Status == http.StatusOK && len(r.Errors) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the thaw a query still answers HTTP %d: %s", r.Status, r.Raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unavailableWithin runs a request (f) against a frozen database and fails
// the test unless it answers 503 UNAVAILABLE with Retry-After within 8 s
// (the tests' bounds are 1 s); a request left waiting is left to the thaw
// at the test's end.
func unavailableWithin(t *testing.T, what string, f func() (status int, code, retryAfter string)) {
	t.Helper()
	type answer struct {
		status           int
		code, retryAfter string
	}
	done := make(chan answer, 1)
	began := time.Now()
	go func() {
		status, code, retry := f()
		done <- answer{status, code, retry}
	}()
	select {
	case a := <-done:
		if a.status != http.StatusServiceUnavailable || a.code != "UNAVAILABLE" || a.retryAfter == "" {
			t.Errorf("%s while the database is frozen: HTTP %d %s, Retry-After %q", what, a.status, a.code, a.retryAfter)
		}
		t.Logf("%s answered in %v", what, time.Since(began).Round(time.Millisecond))
	case <-time.After(8 * time.Second):
		t.Fatalf("%s while the database is frozen: no answer in 8 s (its bound is 1 s)", what)
	}
}

// A request whose database answers, but not in time (here its table is
// locked), has its statement cancelled at the request timeout and answers
// UNAVAILABLE with 503 and Retry-After, not INTERNAL: it is answered by
// itself (presentError), before the watchdog's second.
func TestSlowQueryPastTheRequestTimeoutIsUnavailable(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.RequestTimeout = time.Second }))
	seller := e.Register("slow-query-seller")
	tx, err := e.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE ip_licenses IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	r := e.Do(apitest.Request{Token: seller.Token, Query: `{ ipLicenses { totalCount } }`})
	took := time.Since(began)
	if r.Status != http.StatusServiceUnavailable || r.Code() != "UNAVAILABLE" || r.Header.Get("Retry-After") == "" ||
		r.Errors[0].Message != server.DeadlineMessage {
		t.Fatalf("a query held past the request timeout: HTTP %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	if took > 1900*time.Millisecond {
		t.Fatalf("answered after %v: by the watchdog (1 s + 1 s), not by the cancelled statement", took)
	}
	_ = tx.Rollback()
	var out struct{ IPLicenses struct{ TotalCount int } }
	e.Query(seller.Token, `{ ipLicenses { totalCount } }`, nil, &out)
}

// Requests on a frozen PostgreSQL let go of their connections at their
// deadline: the statement's socket is expired (store's expiringConn), so the
// request answers UNAVAILABLE itself, before the watchdog's extra second,
// and its connection leaves the pool (broken) instead of staying held, with
// the request's goroutine, until the thaw; a request that needed a new
// connection gives up on the handshake the same way. Before, each of these
// requests was answered by the watchdog and left its statement waiting.
func TestFrozenDatabaseRequestsLetGoOfTheirConnections(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.RequestTimeout = time.Second }))
	seller := e.Register("frozen-pool-seller")
	query := apitest.Request{Token: seller.Token, Query: `{ ipLicenses { totalCount } }`}
	var wg sync.WaitGroup
	for range 20 { // open connections for the pool to hand out
		wg.Add(1)
		go func() { defer wg.Done(); e.Do(query) }()
	}
	wg.Wait()
	time.Sleep(1100 * time.Millisecond) // past the token cache: the check reads too

	pg.Freeze()
	const requests = 30
	slow := make(chan string, requests)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			r := e.Do(query)
			took := time.Since(began)
			if r.Status != http.StatusServiceUnavailable || r.Code() != "UNAVAILABLE" || r.Header.Get("Retry-After") == "" {
				slow <- fmt.Sprintf("HTTP %d %s", r.Status, r.Raw)
			} else if took > 1900*time.Millisecond {
				slow <- fmt.Sprintf("answered after %v: by the watchdog (1 s + 1 s), not by the request", took.Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	close(slow)
	for s := range slow {
		t.Error(s)
	}
	pg.Thaw()
	servesAgain(t, e, query)
}

// The CLN API and invoice PDFs are bounded as GraphQL is: on a frozen
// database they answer 503 UNAVAILABLE with Retry-After at the request
// timeout, in their own formats ({"success": false, "code": ...} for the CLN
// API, a coded error for a PDF, not the 404 that says "no such invoice").
// Before, both waited for the thaw.
func TestFrozenDatabaseCLNAPIAndPDFsAnswerUnavailable(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.RequestTimeout = time.Second }))
	seller := e.Register("frozen-cln-seller")
	var secret struct {
		CreateCLNSecret struct{ Secret, Login string }
	}
	e.Query(seller.Token, `mutation { createCLNSecret { secret login } }`, nil, &secret)
	var invoices struct {
		Invoices struct {
			Edges []struct{ Node struct{ DownloadURL string } }
		}
	}
	e.Query(seller.Token, `{ invoices(first: 1) { edges { node { downloadURL } } } }`, nil, &invoices)
	if len(invoices.Invoices.Edges) == 0 {
		t.Fatal("the registration made no invoice to download")
	}
	signed := invoices.Invoices.Edges[0].Node.DownloadURL // its signature decides
	pdf := signed[:strings.Index(signed, "?")]            // the bearer token decides, which reads too
	last := time.Now().Unix()
	cln := func() (int, string, string) {
		last++ // a fresh timestamp each call: no replay
		ts := strconv.FormatInt(last, 10)
		sum := sha1.Sum([]byte(secret.CreateCLNSecret.Secret + ts))
		token := secret.CreateCLNSecret.Login + "|" + ts + "|" + hex.EncodeToString(sum[:])
		resp, err := http.Get(e.Server.URL + "/api/ipl/list.json?token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Success bool
			Code    string
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Errorf("CLN API answer: %v", err)
		}
		return resp.StatusCode, out.Code, resp.Header.Get("Retry-After")
	}
	download := func(link, token string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, link, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Errors []struct{ Extensions struct{ Code string } }
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) == 0 {
			t.Errorf("PDF answer: HTTP %d %+v, %v", resp.StatusCode, out, err)
			return resp.StatusCode, "", ""
		}
		return resp.StatusCode, out.Errors[0].Extensions.Code, resp.Header.Get("Retry-After")
	}
	if status, code, _ := cln(); status != http.StatusOK {
		t.Fatalf("the CLN API before the freeze: HTTP %d %s", status, code)
	}
	req, _ := http.NewRequest(http.MethodGet, pdf, nil)
	req.Header.Set("Authorization", "Bearer "+seller.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the PDF before the freeze: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	time.Sleep(1100 * time.Millisecond) // past the token cache

	pg.Freeze()
	for what, f := range map[string]func() (int, string, string){
		"a CLN API call":               cln,
		"a PDF download":               func() (int, string, string) { return download(pdf, seller.Token) },
		"a signed PDF link's download": func() (int, string, string) { return download(signed, "") },
	} {
		began := time.Now()
		unavailableWithin(t, what, f)
		if took := time.Since(began); took > 1900*time.Millisecond {
			t.Errorf("%s answered after %v: by the watchdog (1 s + 1 s), not by its handler", what, took.Round(time.Millisecond))
		}
	}
	pg.Thaw()
}
