package server_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
)

// While PostgreSQL is down every request that needs it answers UNAVAILABLE
// (not INTERNAL) with 503 and Retry-After, /readyz says why, and once the
// database is back the same instance serves again, with the check-ins it
// accepted before the outage still recorded.
func TestDatabaseOutageAnswersUnavailable(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow())
	seller := e.Register("outage-seller")
	e.AddLicense(seller.Token, "203.0.113.20", "CLOUDLINUX_OS", "")
	if r := e.CheckInFrom("203.0.113.20", "before.example"); len(r.Errors) > 0 {
		t.Fatalf("check-in before the outage: %s", r.Raw)
	}
	if status, body := readyz(t, e); status != http.StatusOK || body != "ok\n" {
		t.Fatalf("/readyz before the outage: %d %q", status, body)
	}

	pg.Stop()
	stopped := time.Now()
	unavailable := func(what string, r *apitest.Response) {
		t.Helper()
		if r.Code() != "UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage answered HTTP %d, Retry-After %q: %s", what, r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
		for _, e := range r.Errors {
			if strings.Contains(e.Message, "pq:") || strings.Contains(e.Message, "dial") || strings.Contains(e.Message, "/tmp") {
				t.Errorf("%s: the message leaks driver text: %q", what, e.Message)
			}
		}
	}
	unavailable("a check-in", e.CheckInFrom("203.0.113.20", "during.example"))
	if r := e.LeanCheckInFrom("203.0.113.20", "during.example"); r.Code() != "UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" ||
		strings.Contains(string(r.Raw), "pq:") || strings.Contains(string(r.Raw), "dial") || strings.Contains(string(r.Raw), "/tmp") {
		t.Errorf("POST /v1/checkin during the outage answered HTTP %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	unavailable("a query", e.Do(apitest.Request{Token: seller.Token, Query: `{ viewer { reseller { login } } ipLicenses { totalCount } }`}))
	// A token is checked against the database once its cached check (a
	// second) has run out: that refusal comes before GraphQL runs.
	time.Sleep(time.Until(stopped.Add(1500 * time.Millisecond)))
	unavailable("a reseller's query", e.Do(apitest.Request{Token: seller.Token, Query: `{ ipLicenses { totalCount } }`}))
	unavailable("a reseller's mutation", e.Do(apitest.Request{Token: seller.Token,
		Query: `mutation { addIPLicense(input: {ip: "203.0.113.21", type: KERNELCARE}) { license { id } } }`}))
	status, body := readyz(t, e)
	if status != http.StatusServiceUnavailable || body != "not ready: the database refuses connections (not running?)\n" {
		t.Errorf("/readyz during the outage: %d %q", status, body)
	}
	t.Logf("/readyz during the outage: %q", body)

	pg.Start()
	waitReady(t, e)
	hostname := func() string {
		var out struct {
			IPLicenses struct {
				TotalCount int
				Edges      []struct {
					Node struct{ IP, Hostname, Status string }
				}
			}
		}
		e.Query(seller.Token, `{ ipLicenses { totalCount edges { node { ip hostname status } } } }`, nil, &out)
		if out.IPLicenses.TotalCount != 1 || out.IPLicenses.Edges[0].Node.Status != "ACTIVE" {
			t.Fatalf("after the outage the licenses are %+v", out.IPLicenses)
		}
		return out.IPLicenses.Edges[0].Node.Hostname
	}
	if h := hostname(); h != "before.example" {
		t.Fatalf("after the outage the license's hostname is %q: the check-in from before it was lost, or one during it recorded", h)
	}

	// A crash of the database (no shutdown checkpoint) keeps check-ins too,
	// except those of its last moments: they commit without waiting for the
	// WAL flush (internal/live.Notify), which the WAL writer does within
	// three wal_writer_delay (200 ms).
	if r := e.CheckInFrom("203.0.113.20", "after.example"); len(r.Errors) > 0 {
		t.Fatalf("check-in after the outage: %s", r.Raw)
	}
	time.Sleep(time.Second)
	pg.Crash()
	unavailable("a check-in during the crash", e.CheckInFrom("203.0.113.20", "crashed.example"))
	pg.Start()
	waitReady(t, e)
	if h := hostname(); h != "after.example" {
		t.Fatalf("after the crash the license's hostname is %q, want after.example", h)
	}
}

func waitReady(t *testing.T, e *apitest.Env) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := readyz(t, e)
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the restart still answers %d %q", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readyz(t *testing.T, e *apitest.Env) (int, string) {
	t.Helper()
	resp, err := e.Server.Client().Get(e.Server.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// When PostgreSQL has no connection left to give (max_connections reached
// by other clients) and clnd's own connections are gone, requests answer
// UNAVAILABLE with 503 and /readyz says "too many clients"; once
// connections free up, the instance serves again.
func TestDatabaseOutOfConnectionsAnswersUnavailable(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow())
	seller := e.Register("full-seller")
	e.AddLicense(seller.Token, "203.0.113.30", "CLOUDLINUX_OS", "")

	hog, err := sql.Open("postgres", pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	ctx := context.Background()
	var held []*sql.Conn
	var pids []int64
	release := func() {
		for _, c := range held {
			c.Close()
		}
		held, pids = nil, nil
	}
	defer release()
	// Take every connection the server has left, then end clnd's pool's
	// and take those too. (clnd's LISTEN connections are left alone: they
	// reconnect at once, and are not the pool.)
	fill := func() {
		for {
			c, err := hog.Conn(ctx)
			if err == nil {
				var pid int64
				err = c.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
				if err == nil {
					held, pids = append(held, c), append(pids, pid)
					continue
				}
				c.Close()
			}
			if !strings.Contains(err.Error(), "too many clients") {
				t.Fatalf("filling the server's connections: %v", err)
			}
			return
		}
	}
	fill()
	for attempt := 0; ; attempt++ {
		// The timeout makes pg_terminate_backend wait until the backend is
		// gone.
		var others int
		if err := held[0].QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND pid <> ALL($1) AND query NOT LIKE 'LISTEN %'`, pq.Array(pids)).Scan(&others); err != nil {
			t.Fatal(err)
		}
		if others == 0 {
			break
		}
		if attempt == 20 {
			var who string
			_ = held[0].QueryRowContext(ctx, `SELECT string_agg(format('%s %s %s %s', pid, usename, state, left(query, 60)), '; ') FROM pg_stat_activity
				WHERE backend_type = 'client backend' AND pid <> ALL($1) AND query NOT LIKE 'LISTEN %'`, pq.Array(pids)).Scan(&who)
			t.Fatalf("other clients keep connecting (%d): %s", others, who)
		}
		// A slot is free a moment after its backend is gone: keep asking.
		for wait := time.Now().Add(300 * time.Millisecond); time.Now().Before(wait); time.Sleep(5 * time.Millisecond) {
			fill()
		}
	}

	r := e.Do(apitest.Request{Token: seller.Token, Query: `{ ipLicenses { totalCount } }`})
	if r.Code() != "UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("a query with no connection to be had answered HTTP %d: %s", r.Status, r.Raw)
	}
	if r := e.CheckInFrom("203.0.113.30", "full.example"); r.Code() != "UNAVAILABLE" || r.Status != http.StatusServiceUnavailable {
		t.Errorf("a check-in with no connection to be had answered HTTP %d: %s", r.Status, r.Raw)
	}
	if r := e.LeanCheckInFrom("203.0.113.30", "full.example"); r.Code() != "UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("POST /v1/checkin with no connection to be had answered HTTP %d: %s", r.Status, r.Raw)
	}
	if status, body := readyz(t, e); status != http.StatusServiceUnavailable || !strings.Contains(body, "too many clients") {
		t.Errorf("/readyz with no connection to be had: %d %q", status, body)
	}

	release()
	waitReady(t, e)
	if r := e.CheckInFrom("203.0.113.30", "free.example"); len(r.Errors) > 0 {
		t.Fatalf("check-in once connections are free: %s", r.Raw)
	}
}
