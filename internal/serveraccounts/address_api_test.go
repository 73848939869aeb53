package serveraccounts_test

import (
	"encoding/json"
	"strings"
	"testing"

	"clnd/internal/apitest"
)

// registerServer binds the address the server names, or else the request's
// source address, by the license address rules: a local caller without ip
// is refused rather than stored as 127.0.0.1.
func TestRegisterServerAddressRules(t *testing.T) {
	for _, sandbox := range []bool{true, false} {
		mode := "production"
		var opts []apitest.Option
		if sandbox {
			mode = "sandbox"
		} else {
			opts = append(opts, apitest.WithoutSandbox())
		}
		t.Run(mode, func(t *testing.T) {
			apitest.Each(t, func(t *testing.T, e *apitest.Env) {
				r := e.Register("alice")
				acct := createAccount(t, e, r.Token, "acme", 10)
				_, keyToken := key(t, e, r.Token, acct.ID)
				registerAs := func(ip, forwardedFor string) *apitest.Response {
					vars := map[string]any{"key": keyToken, "host": "node"}
					if ip != "" {
						vars["ip"] = ip
					}
					req := apitest.Request{Query: register, Variables: vars}
					if forwardedFor != "" {
						req.Header = map[string]string{"X-Forwarded-For": forwardedFor}
					}
					return e.Do(req)
				}
				refused := func(res *apitest.Response, what string) {
					t.Helper()
					if res.Code() != "BAD_USER_INPUT" || res.Field() != "ip" {
						t.Errorf("%s: %s", what, res.Raw)
					}
				}
				registered := func(res *apitest.Response, what, want string) {
					t.Helper()
					var out struct {
						RegisterServer struct{ Server struct{ IP string } }
					}
					if res.Code() != "" || json.Unmarshal(res.Data, &out) != nil || out.RegisterServer.Server.IP != want {
						t.Errorf("%s: %s; want ip %s", what, res.Raw, want)
					}
				}

				// The test's requests come from 127.0.0.1.
				res := registerAs("", "")
				refused(res, "no ip from a local caller")
				if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Message, "127.0.0.1") {
					t.Errorf("the refusal does not name the source address: %s", res.Raw)
				}
				refused(registerAs("", "10.1.2.3"), "no ip from a private address")
				refused(registerAs("64:ff9b::a00:1", ""), "a NAT64 address of a private IPv4")
				refused(registerAs("10.0.0.5", "45.1.2.3"), "a private ip from a public source")
				registered(registerAs("", "45.1.2.3"), "no ip from a public address", "45.1.2.3")
				registered(registerAs("2002:2d01:204::1", ""), "a 6to4 address of a public IPv4", "2002:2d01:204::1")
				if sandbox {
					registered(registerAs("", "203.0.113.9"), "no ip from a documentation address", "203.0.113.9")
					registered(registerAs("2001:db8::9", ""), "a documentation ip", "2001:db8::9")
				} else {
					refused(registerAs("", "203.0.113.9"), "no ip from a documentation address")
					refused(registerAs("2001:db8::9", ""), "a documentation ip")
				}
				var out struct {
					ServerAccounts struct {
						Edges []struct{ Node struct{ UsedLicenses int } }
					}
				}
				e.Query(r.Token, `{ serverAccounts { edges { node { usedLicenses } } } }`, nil, &out)
				want := 2
				if sandbox {
					want = 4
				}
				if got := out.ServerAccounts.Edges[0].Node.UsedLicenses; got != want {
					t.Errorf("usedLicenses = %d, want %d: a refused registration used a license", got, want)
				}
			}, opts...)
		})
	}
}
