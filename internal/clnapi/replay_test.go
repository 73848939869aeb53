package clnapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// A token is good for one request: the token signs nothing of the call, so
// a token seen once (in a proxy log, say) must not make any other call —
// not the same call padded with a parameter, not another call in the same
// second (hostile finding 12: a token logged from ipl/list.json removed a
// license through ipl/remove.json when replays were judged per request).
func TestTokenIsGoodForOneRequest(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, r := newClient(t, e, "alice")
		c.ok(nil, "ipl/register.json", "ip", "203.0.113.70", "type", "1")
		tok := tokenAt(c.login, c.secret, time.Now().Unix()+2)
		if a := c.raw(http.MethodGet, "ipl/list.json", url.Values{"token": {tok}}); !a.Success {
			t.Fatalf("list: %+v", a)
		}
		for _, q := range []struct {
			path string
			q    url.Values
		}{
			{"ipl/list.json", url.Values{"_": {"1"}}},
			{"ipl/remove.json", url.Values{"ip": {"203.0.113.70"}}},
			{"ipl/check.json", url.Values{"ip": {"203.0.113.70"}}},
		} {
			v := url.Values{"token": {tok}}
			for k, vs := range q.q {
				v[k] = vs
			}
			if a := c.raw(http.MethodGet, q.path, v); a.Success || a.Status != http.StatusUnauthorized {
				t.Fatalf("%s %v with a used token: HTTP %d success=%v %q", q.path, q.q, a.Status, a.Success, a.Message)
			}
		}
		if got := gqlLicenses(t, e, r.Token); len(got) != 1 {
			t.Fatalf("alice has %d licenses left, want 1", len(got))
		}
	})
}

// The same request with the same token is a replay, refused on any
// instance, whether it comes as GET or POST, its parameters in another
// order or spelled with spaces around them.
func TestSameRequestTwiceIsRefused(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		e2 := apitest.Reopen(t, e)
		c2 := &client{t: t, base: e2.Server.URL, login: c.login, secret: c.secret}
		tok := tokenAt(c.login, c.secret, time.Now().Unix())
		if a := c.raw(http.MethodGet, "ipl/check.json", url.Values{"token": {tok}, "ip": {"203.0.113.10"}}); !a.Success {
			t.Fatalf("first call: %+v", a)
		}
		replays := []struct {
			who    *client
			method string
			path   string
			q      url.Values
		}{
			{c, http.MethodGet, "ipl/check.json", url.Values{"ip": {"203.0.113.10"}}},
			{c2, http.MethodGet, "ipl/check.json", url.Values{"ip": {"203.0.113.10"}}},
			{c, http.MethodPost, "ipl/check.json", url.Values{"ip": {"203.0.113.10"}}},
			{c, http.MethodGet, "ipl/check.json", url.Values{"ip": {" 203.0.113.10 "}}},
		}
		for i, r := range replays {
			q := url.Values{"token": {tok}}
			for k, v := range r.q {
				q[k] = v
			}
			a := r.who.raw(r.method, r.path, q)
			if a.Success || a.Status != http.StatusUnauthorized || a.Code != "UNAUTHENTICATED" {
				t.Fatalf("replay %d (%s %s %v): HTTP %d success=%v %q", i, r.method, r.path, r.q, a.Status, a.Success, a.Message)
			}
		}
		// Parameters in another order are the same request.
		tok = tokenAt(c.login, c.secret, time.Now().Unix()+1)
		c.raw(http.MethodGet, "ipl/register.json", url.Values{"token": {tok}, "ip": {"203.0.113.20"}, "type": {"1"}})
		raw := e.Server.URL + "/api/ipl/register.json?type=1&token=" + url.QueryEscape(tok) + "&ip=203.0.113.20"
		resp, err := http.Get(raw)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("register replayed with its parameters reordered: HTTP %d", resp.StatusCode)
		}
	})
}

// A burst of requests at once, each with its own valid token, half to each
// of two instances, passes exactly the rate limit (hostile finding 6: 27 of
// 100 passed a limit of 10 on PostgreSQL).
func TestRateLimitHoldsUnderABurst(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		e2 := apitest.Reopen(t, e)
		c2 := &client{t: t, base: e2.Server.URL, login: c.login, secret: c.secret}
		now := time.Now().Unix()
		const n = 60
		results := make([]answer, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				who := c
				if i%2 == 1 {
					who = c2
				}
				<-start
				results[i] = who.raw(http.MethodGet, "ipl/list.json", url.Values{"token": {tokenAt(c.login, c.secret, now-30+int64(i))}})
			}(i)
		}
		close(start)
		wg.Wait()
		passed := 0
		for _, a := range results {
			switch {
			case a.Success:
				passed++
			case a.Status != http.StatusTooManyRequests:
				t.Fatalf("a request of the burst: HTTP %d %q", a.Status, a.Message)
			}
		}
		if passed != 10 {
			t.Fatalf("%d of %d requests at once passed a limit of 10 a minute", passed, n)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.CLNRateLimit = 10 }))
}

// Removing one address or backup ten times at once (a billing panel that
// retries after a timeout while the first call runs) answers true every
// time: removal is idempotent (hostile finding 7: 404 on PostgreSQL).
func TestConcurrentRemovesAreIdempotent(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		for round := 0; round < 3; round++ {
			ip := "203.0.113." + strconv.Itoa(10+round)
			var lic License
			c.ok(&lic, "ipl/register.json", "ip", ip, "type", "1")
			c.ok(nil, "ab/im/create.json", "server_id", lic.ID, "size", "10", "datacenter", "us-east")
			for _, call := range [][]string{{"ab/remove.json", "server_id", lic.ID}, {"ipl/remove.json", "ip", ip}} {
				var wg sync.WaitGroup
				answers := make([]answer, 10)
				toks := make([]string, 10)
				for i := range toks {
					toks[i] = c.token()
				}
				for i := 0; i < 10; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						answers[i] = c.raw(http.MethodGet, call[0], url.Values{"token": {toks[i]}, call[1]: {call[2]}})
					}(i)
				}
				wg.Wait()
				for i, a := range answers {
					if !a.Success {
						t.Fatalf("round %d, %s call %d of 10 at once: HTTP %d %s %q", round, call[0], i, a.Status, a.Code, a.Message)
					}
				}
			}
		}
	})
}
