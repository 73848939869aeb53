package server_test

import (
	"strings"
	"testing"
	"time"

	"clnd/ent/apitoken"
	"clnd/internal/apitest"
	"clnd/internal/viewer"
)

const whoAmI = `{ viewer { role reseller { login } } }`

// A token used again within a second is answered from memory: the second
// request reads no token table.
func TestAuthenticationCacheHitReadsNoToken(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("cache-hit")
		api := e.APIToken(seller.Token, "READ")
		hs, st := countingServer(t, e)
		for _, token := range []string{seller.Token, api, e.OperatorToken} {
			tokenReads := func() int {
				n := 0
				for _, q := range st.queries() {
					if strings.Contains(q, "api_tokens") || strings.Contains(q, "sessions") || strings.Contains(q, "operator_tokens") {
						n++
					}
				}
				return n
			}
			st.reset()
			post(t, hs.Client(), hs.URL, token, whoAmI)
			if tokenReads() == 0 {
				t.Fatalf("the first request read no token: %q", st.queries())
			}
			st.reset()
			post(t, hs.Client(), hs.URL, token, whoAmI)
			if n := tokenReads(); n != 0 {
				t.Errorf("a request right after the first read the token table %d times: %q", n, st.queries())
			}
		}
	})
}

// Revoking a token or ending a session on this instance takes effect at
// once; a revocation this instance does not see (another instance's) within
// the cache's second.
func TestRevocationTakesEffectWithinASecond(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("cache-revoke")
		ask := func(token string) string { return e.Do(apitest.Request{Token: token, Query: whoAmI}).Code() }

		// Here: revokeAPIToken and logout.
		api := e.APIToken(seller.Token, "READ_WRITE")
		if code := ask(api); code != "" {
			t.Fatalf("fresh API token: %s", code)
		}
		var tokens struct{ APITokens []struct{ ID string } }
		e.Query(seller.Token, `{ apiTokens { id } }`, nil, &tokens)
		e.Query(seller.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`, map[string]any{"id": tokens.APITokens[0].ID}, nil)
		if code := ask(api); code != "UNAUTHENTICATED" {
			t.Errorf("revoked API token answered %q right after revokeAPIToken", code)
		}
		session := e.Register("cache-logout").Token
		if code := ask(session); code != "" {
			t.Fatalf("fresh session: %s", code)
		}
		e.Query(session, `mutation { logout }`, nil, nil)
		if code := ask(session); code != "UNAUTHENTICATED" {
			t.Errorf("ended session answered %q right after logout", code)
		}

		// Elsewhere: the row disappears behind this instance's back.
		other := e.APIToken(seller.Token, "READ")
		if code := ask(other); code != "" {
			t.Fatalf("fresh API token: %s", code)
		}
		deleted := time.Now()
		if _, err := e.DB.Client.APIToken.Delete().Where(apitoken.ResellerID(seller.ID)).Exec(viewer.SystemContext(e.Ctx())); err != nil {
			t.Fatal(err)
		}
		for ask(other) == "" {
			if time.Since(deleted) > 1500*time.Millisecond {
				t.Fatalf("a token deleted %v ago still authenticates", time.Since(deleted))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if code := ask(other); code != "UNAUTHENTICATED" {
			t.Errorf("deleted token answered %q", code)
		}
	})
}

// A cached session still ends when the business clock passes its expiry.
func TestCachedSessionExpiresWithTheClock(t *testing.T) {
	e := apitest.New(t, "sqlite")
	var login struct {
		Login struct{ Token, ExpiresAt string }
	}
	e.Register("cache-expiry")
	e.Query("", `mutation { login(input: {login: "cache-expiry", password: "correct horse battery"}) { token expiresAt } }`, nil, &login)
	if code := e.Do(apitest.Request{Token: login.Login.Token, Query: whoAmI}).Code(); code != "" {
		t.Fatalf("fresh session: %s", code)
	}
	expires, err := time.Parse(time.RFC3339, login.Login.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
		map[string]any{"to": expires.Add(time.Second).Format(time.RFC3339)}, nil)
	if code := e.Do(apitest.Request{Token: login.Login.Token, Query: whoAmI}).Code(); code != "UNAUTHENTICATED" {
		t.Errorf("an expired session answered %q", code)
	}
}
