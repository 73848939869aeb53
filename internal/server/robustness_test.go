package server_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// Mutations and queries over a websocket answer once, without a trailing error.
func TestOperationsOverWebsocket(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		ws := e.DialWS(a.Token)
		res := ws.Do(`mutation { addIPLicense(input: {ip: "203.0.113.9", type: KERNELCARE}) { license { ip } } }`, nil)
		if !strings.Contains(string(res), `"ip":"203.0.113.9"`) || strings.Contains(string(res), "errors") {
			t.Fatalf("mutation over websocket: %s", res)
		}
		res = ws.Do(`{ ipLicenses { totalCount } }`, nil)
		if !strings.Contains(string(res), `"totalCount":1`) {
			t.Fatalf("query over websocket: %s", res)
		}
	})
}

// A socket authenticated with a session stops working once the session ends.
func TestWebsocketLosesAccessAfterLogout(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		e.Register("alice")
		var login struct{ Login struct{ Token string } }
		e.Query("", `mutation { login(input: {login: "alice", password: "correct horse battery"}) { token } }`, nil, &login)
		ws := e.DialWS(login.Login.Token)
		if res := ws.Do(`{ viewer { role } }`, nil); !strings.Contains(string(res), "RESELLER") {
			t.Fatalf("before logout: %s", res)
		}
		e.Query(login.Login.Token, `mutation { logout }`, nil, nil)
		res := ws.Do(`mutation { addIPLicense(input: {ip: "203.0.113.9", type: KERNELCARE}) { license { id } } }`, nil)
		if !strings.Contains(string(res), "UNAUTHENTICATED") {
			t.Fatalf("after logout the socket still works: %s", res)
		}
	})
}

// A subscription ends when its API token is revoked.
func TestSubscriptionEndsWhenTokenIsRevoked(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		var tok struct {
			CreateAPIToken struct {
				Token    string
				APIToken struct{ ID string }
			}
		}
		e.Query(a.Token, `mutation { createAPIToken(input: {name: "dash", scope: READ}) { token apiToken { id } } }`, nil, &tok)
		sub := e.Subscribe(tok.CreateAPIToken.Token, `subscription { checkIns { ip } }`, nil)
		e.Query(a.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`, map[string]any{"id": tok.CreateAPIToken.APIToken.ID}, nil)
		deadline := time.Now().Add(5 * time.Second)
		for e.Subscribers() > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the revoked token's subscription is still open")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, ok := sub.Next(2 * time.Second); ok {
			t.Fatal("an event reached the revoked subscription")
		}
	}, apitest.WithConfig(func(c *server.Config) { c.SubscriptionRecheck = 50 * time.Millisecond }))
}

func TestNullPageSizeVariableGetsTheDefault(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		for i := 0; i < 22; i++ {
			e.AddLicense(a.Token, "198.51.100."+strconv.Itoa(10+i), "KERNELCARE", "")
		}
		for _, vars := range []map[string]any{nil, {"n": nil}} {
			var out struct {
				Viewer struct {
					Reseller struct {
						IPLicenses struct {
							Edges []struct{ Node struct{ ID string } }
						}
					}
				}
				IPLicenses struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			e.Query(a.Token, `query($n: Int) { ipLicenses(first: $n) { edges { node { id } } }
				viewer { reseller { ipLicenses(last: $n) { edges { node { id } } } } } }`, vars, &out)
			if len(out.IPLicenses.Edges) != 20 || len(out.Viewer.Reseller.IPLicenses.Edges) != 20 {
				t.Fatalf("vars %v: %d and %d edges, want the default 20", vars, len(out.IPLicenses.Edges), len(out.Viewer.Reseller.IPLicenses.Edges))
			}
		}
		e.Expect("BAD_USER_INPUT", "first", a.Token, `{ ipLicenses(first: null) { totalCount } }`, nil)
	})
}

func TestLoginMustBeAlone(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.Expect("BAD_USER_INPUT", "", a.Token, `mutation { login(input: {login: "alice", password: "correct horse battery"}) { token } logout }`, nil)
		e.Expect("BAD_USER_INPUT", "", "", `mutation { ...L checkIn(input: {}) { at } } fragment L on Mutation { login(input: {login: "alice", password: "x"}) { token } }`, nil)
		// Logging in as someone else with a token in hand answers for the new account.
		e.Register("bob")
		var out struct {
			Login struct{ Reseller struct{ Login string } }
		}
		e.Query(a.Token, `mutation { login(input: {login: "bob", password: "correct horse battery"}) { reseller { login } } }`, nil, &out)
		if out.Login.Reseller.Login != "bob" {
			t.Fatalf("login as bob answered %+v", out)
		}
	})
}

func TestParallelWrongPasswordsAreRateLimited(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		e.Register("alice")
		const n = 30
		counts := e.Race(n, func(int) apitest.Request {
			return apitest.Request{Query: `mutation { login(input: {login: "alice", password: "wrong password"}) { token } }`}
		})
		wrong := counts["UNAUTHENTICATED"]
		if wrong+counts["RATE_LIMITED"] != n {
			t.Fatalf("answers by code: %v", counts)
		}
		if wrong > 5 {
			t.Fatalf("%d of %d parallel guesses were checked; the limit is 5", wrong, n)
		}
	})
}

// A socket that signed in with login, or through its upgrade request's
// header, loses access when that session ends, like any other socket.
func TestWebsocketSignedInLaterIsRechecked(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		e.Register("alice")
		ws := e.DialWS("")
		res := ws.Do(`mutation { login(input: {login: "alice", password: "correct horse battery"}) { token } }`, nil)
		var out struct {
			Data struct{ Login struct{ Token string } }
		}
		_ = json.Unmarshal(res, &out)
		if out.Data.Login.Token == "" {
			t.Fatalf("login over websocket: %s", res)
		}
		// The login applied to that operation only: the socket is still anonymous.
		if res := ws.Do(`{ viewer { role } }`, nil); !strings.Contains(string(res), "UNAUTHENTICATED") {
			t.Fatalf("after a login operation the socket acts as: %s", res)
		}
		header := e.DialWSHeader(out.Data.Login.Token)
		if res := header.Do(`{ viewer { role } }`, nil); !strings.Contains(string(res), "RESELLER") {
			t.Fatalf("socket authenticated by its upgrade header: %s", res)
		}
		e.Query(out.Data.Login.Token, `mutation { logout }`, nil, nil)
		if res := header.Do(`{ viewer { role } }`, nil); !strings.Contains(string(res), "UNAUTHENTICATED") {
			t.Fatalf("after logout the header-authenticated socket still works: %s", res)
		}
	})
}

func TestMalformedBodyIsBadInput(t *testing.T) {
	e := apitest.New(t, "sqlite")
	r := e.PostRaw("", []byte(`{"query": "mutation { logout }"`))
	if r.Code() != "BAD_USER_INPUT" || r.Status != 400 {
		t.Fatalf("a malformed body answered %d %s", r.Status, r.Raw)
	}
}

// Concurrent mutations of one reseller that lock its row and insert rows
// referencing it must not deadlock.
func TestNoDeadlockBetweenTokensAndLicenses(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		counts := e.Race(8, func(i int) apitest.Request {
			return apitest.Request{Token: a.Token, Query: fmt.Sprintf(`mutation {
				addIPLicense(input: {ip: "203.0.113.%d", type: KERNELCARE}) { license { id } }
				createAPIToken(input: {name: "t%d", scope: READ}) { token } }`, 100+i, i)}
		})
		if counts[""] != 8 {
			t.Fatalf("answers by code: %v", counts)
		}
	})
}
