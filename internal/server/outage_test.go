package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
	if r := e.LeanCheckInFrom("203.0.113.20", "during.example"); r.Code() != "UNAVAILABLE" || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
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
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: ") || len(body) > 200 {
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
