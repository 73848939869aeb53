package checkin_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
	"clnd/internal/serveraccounts"
	"clnd/internal/viewer"
)

const (
	jsonType = "application/json"
	formType = "application/x-www-form-urlencoded"
)

func lastCheckIns(t *testing.T, e *apitest.Env, token string) map[string]struct {
	Hostname    string
	LastCheckIn *time.Time
} {
	t.Helper()
	var out struct {
		IPLicenses struct {
			Edges []struct {
				Node struct {
					IP, Type, Hostname string
					LastCheckIn        *time.Time
				}
			}
		}
	}
	e.Query(token, `{ ipLicenses(first: 100) { edges { node { ip type hostname lastCheckIn } } } }`, nil, &out)
	got := map[string]struct {
		Hostname    string
		LastCheckIn *time.Time
	}{}
	for _, edge := range out.IPLicenses.Edges {
		n := edge.Node
		got[n.IP+" "+n.Type] = struct {
			Hostname    string
			LastCheckIn *time.Time
		}{n.Hostname, n.LastCheckIn}
	}
	return got
}

func ok(t *testing.T, c *apitest.LeanCheckIn) *apitest.LeanCheckIn {
	t.Helper()
	if c.Status != http.StatusOK || len(c.Errors) > 0 {
		t.Fatalf("check-in answered %d: %s", c.Status, c.Raw)
	}
	return c
}

func TestLeanCheckInAnswersAsTheMutationAndIsWritten(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "old-name")
		e.AddLicense(r.Token, "203.0.113.10", "KERNELCARE", "")
		e.AddLicense(r.Token, "203.0.113.11", "KERNELCARE", "")

		lean := ok(t, e.LeanCheckInFrom("203.0.113.10", "web10.alice.example"))
		slices.Sort(lean.Licensed)
		if !slices.Equal(lean.Licensed, []string{"CLOUDLINUX_OS", "KERNELCARE"}) || !lean.At.Equal(apitest.Start) ||
			!lean.NextCheckInAfter.Equal(apitest.Start.Add(time.Hour)) {
			t.Fatalf("lean check-in answered %s", lean.Raw)
		}
		// The mutation answers the same for the same host.
		var gql checkInAnswer
		decode(t, e.CheckInFrom("203.0.113.10", "web10.alice.example"), &gql)
		slices.Sort(gql.CheckIn.Licensed)
		if !slices.Equal(gql.CheckIn.Licensed, lean.Licensed) || !gql.CheckIn.At.Equal(lean.At) ||
			!gql.CheckIn.NextCheckInAfter.Equal(lean.NextCheckInAfter) {
			t.Fatalf("the mutation answered %+v, the endpoint %s", gql.CheckIn, lean.Raw)
		}

		// The flusher wrote it: lastCheckIn and the hostname, on both
		// licenses of the address and on no other.
		e.Clock.Set(apitest.Start.Add(time.Minute))
		ok(t, e.PostCheckIn(http.MethodPost, formType, "hostname=web10.renamed", map[string]string{"X-Forwarded-For": "203.0.113.10"}))
		got := lastCheckIns(t, e, r.Token)
		for _, key := range []string{"203.0.113.10 CLOUDLINUX_OS", "203.0.113.10 KERNELCARE"} {
			if l := got[key]; l.LastCheckIn == nil || !l.LastCheckIn.Equal(apitest.Start.Add(time.Minute)) || l.Hostname != "web10.renamed" {
				t.Errorf("%s after the form check-in: %+v", key, l)
			}
		}
		if l := got["203.0.113.11 KERNELCARE"]; l.LastCheckIn != nil {
			t.Errorf("a license on another address was touched: %+v", l)
		}

		// An address without a license is answered with an empty list.
		unknown := ok(t, e.LeanCheckInFrom("192.0.2.200", "nobody"))
		if unknown.Licensed == nil || len(unknown.Licensed) != 0 || !strings.Contains(string(unknown.Raw), `"licensed":[]`) {
			t.Fatalf("unlicensed host answered %s", unknown.Raw)
		}
		// So is a request with no body: the loopback peer has no license.
		if bare := ok(t, e.PostCheckIn(http.MethodPost, "", "", nil)); len(bare.Licensed) != 0 {
			t.Fatalf("bare check-in from loopback answered %s", bare.Raw)
		}
	})
}

// The address is the TCP peer's; X-Forwarded-For is read right to left and
// believed only while each hop is a trusted proxy (loopback always, plus the
// configured ones).
func TestLeanCheckInTrustsOnlyTrustedProxies(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		name := "untrusted hop"
		var opts []apitest.Option
		if trusted {
			name = "trusted hop"
			opts = append(opts, apitest.WithConfig(func(c *server.Config) {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
			}))
		}
		t.Run(name, func(t *testing.T) {
			apitest.Each(t, func(t *testing.T, e *apitest.Env) {
				r := e.Register("alice")
				e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
				e.AddLicense(r.Token, "198.51.100.7", "KERNELCARE", "")
				// The loopback test client is a trusted proxy that saw
				// 198.51.100.7, which claims to forward 203.0.113.10.
				c := ok(t, e.PostCheckIn(http.MethodPost, jsonType, `{"hostname":"h"}`,
					map[string]string{"X-Forwarded-For": "203.0.113.10, 198.51.100.7"}))
				want, untouched := "198.51.100.7 KERNELCARE", "203.0.113.10 CLOUDLINUX_OS"
				if trusted {
					want, untouched = untouched, want
				}
				if got := c.Licensed; len(got) != 1 || !strings.HasSuffix(want, got[0]) {
					t.Fatalf("identified as %v, want the license %s", got, want)
				}
				got := lastCheckIns(t, e, r.Token)
				if got[want].LastCheckIn == nil || got[untouched].LastCheckIn != nil {
					t.Fatalf("touched %+v", got)
				}
			}, opts...)
		})
	}
}

func registerServer(t *testing.T, e *apitest.Env, resellerID string) string {
	t.Helper()
	ctx := viewer.SystemContext(e.Ctx())
	tx, err := e.DB.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := serveraccounts.Create(ctx, tx, serveraccounts.NewAccount{ResellerID: resellerID, Login: "acct1", LicenseLimit: 2, At: apitest.Start})
	if err != nil {
		t.Fatal(err)
	}
	key, err := serveraccounts.CreateKey(ctx, tx, acct, apitest.Start)
	if err != nil {
		t.Fatal(err)
	}
	_, credential, err := serveraccounts.Register(ctx, tx, serveraccounts.NewServer{KeyToken: key.Token, Hostname: "node1", IP: "198.51.100.1", Sandbox: true, At: apitest.Start})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return credential
}

func TestLeanCheckInWithCredential(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		credential := registerServer(t, e, r.ID)
		c := ok(t, e.PostCheckIn(http.MethodPost, jsonType, `{"hostname":"node1.json","credential":"`+credential+`"}`, nil))
		if !slices.Equal(c.Licensed, []string{"CLOUDLINUX_OS"}) {
			t.Fatalf("server answered %s", c.Raw)
		}
		e.Clock.Set(apitest.Start.Add(time.Minute))
		form := url.Values{"hostname": {"node1.form"}, "credential": {credential}}.Encode()
		ok(t, e.PostCheckIn(http.MethodPost, formType, form, nil))
		var out struct {
			ServerAccounts struct {
				Edges []struct {
					Node struct {
						Servers struct {
							Edges []struct {
								Node struct {
									Hostname    string
									LastCheckIn *time.Time
								}
							}
						}
					}
				}
			}
		}
		e.Query(r.Token, `{ serverAccounts { edges { node { servers { edges { node { hostname lastCheckIn } } } } } } }`, nil, &out)
		srv := out.ServerAccounts.Edges[0].Node.Servers.Edges[0].Node
		if srv.Hostname != "node1.form" || srv.LastCheckIn == nil || !srv.LastCheckIn.Equal(apitest.Start.Add(time.Minute)) {
			t.Fatalf("server after check-ins: %+v", srv)
		}
		forged := e.PostCheckIn(http.MethodPost, jsonType, `{"credential":"clnd_srv_forged"}`, nil)
		if forged.Status != http.StatusUnauthorized || forged.Code() != "UNAUTHENTICATED" {
			t.Fatalf("a forged credential answered %d: %s", forged.Status, forged.Raw)
		}
		// RFC 9110: a 401 names how to authenticate.
		if got := forged.Header.Get("WWW-Authenticate"); got != `Credential realm="clnd-checkin"` {
			t.Fatalf("a forged credential's 401 has WWW-Authenticate %q", got)
		}
	})
}

func TestLeanCheckInRefusals(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "kept")
		from := map[string]string{"X-Forwarded-For": "203.0.113.10"}
		cases := []struct {
			name, method, contentType, body string
			status                          int
			field                           string
		}{
			{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed, ""},
			{"PUT", http.MethodPut, jsonType, `{}`, http.StatusMethodNotAllowed, ""},
			{"text body", http.MethodPost, "text/plain", "hostname=x", http.StatusUnsupportedMediaType, ""},
			{"no content type", http.MethodPost, "", `{"hostname":"x"}`, http.StatusUnsupportedMediaType, ""},
			{"not JSON", http.MethodPost, jsonType, `{"hostname":`, http.StatusBadRequest, ""},
			{"JSON array", http.MethodPost, jsonType, `["x"]`, http.StatusBadRequest, ""},
			{"data after JSON", http.MethodPost, jsonType, `{"hostname":"x"}}`, http.StatusBadRequest, ""},
			{"hostname not a string", http.MethodPost, jsonType, `{"hostname":7}`, http.StatusBadRequest, "hostname"},
			{"credential not a string", http.MethodPost, jsonType, `{"credential":{}}`, http.StatusBadRequest, "credential"},
			{"unknown JSON field", http.MethodPost, jsonType, `{"hostName":"x"}`, http.StatusBadRequest, "hostName"},
			{"unknown form field", http.MethodPost, formType, `host=x`, http.StatusBadRequest, "host"},
			{"repeated form field", http.MethodPost, formType, `hostname=a&hostname=b`, http.StatusBadRequest, "hostname"},
			{"hostname too long", http.MethodPost, jsonType, `{"hostname":"` + strings.Repeat("x", 300) + `"}`, http.StatusBadRequest, "hostname"},
			{"hostname with a tab", http.MethodPost, jsonType, `{"hostname":"tab\there"}`, http.StatusBadRequest, "hostname"},
			{"NUL in JSON", http.MethodPost, jsonType, `{"hostname":"a\u0000b"}`, http.StatusBadRequest, ""},
			{"NUL in a form", http.MethodPost, formType, `hostname=a%00b`, http.StatusBadRequest, "hostname"},
			{"not UTF-8 in a form", http.MethodPost, formType, `hostname=a%FFb`, http.StatusBadRequest, "hostname"},
			{"bad form escape", http.MethodPost, formType, `hostname=%zz`, http.StatusBadRequest, ""},
		}
		for _, c := range cases {
			got := e.PostCheckIn(c.method, c.contentType, c.body, from)
			if got.Status != c.status || got.Code() != "BAD_USER_INPUT" || got.Field() != c.field {
				t.Errorf("%s: answered %d: %s (want %d BAD_USER_INPUT field %q)", c.name, got.Status, got.Raw, c.status, c.field)
			}
			if c.status == http.StatusMethodNotAllowed && got.Header.Get("Allow") != http.MethodPost {
				t.Errorf("%s: Allow %q", c.name, got.Header.Get("Allow"))
			}
		}
		// A credential in the URL would be logged by every proxy on the way.
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/v1/checkin?credential=x", nil)
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a query string answered %d", resp.StatusCode)
		}
		// None of them checked in.
		if l := lastCheckIns(t, e, r.Token)["203.0.113.10 CLOUDLINUX_OS"]; l.LastCheckIn != nil || l.Hostname != "kept" {
			t.Fatalf("a refused check-in was recorded: %+v", l)
		}
	})
}

func TestLeanCheckInBodyLimit(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		big := e.PostCheckIn(http.MethodPost, jsonType, `{"hostname":"`+strings.Repeat("x", 2048)+`"}`, nil)
		if big.Status != http.StatusRequestEntityTooLarge || big.Code() != "BAD_USER_INPUT" {
			t.Fatalf("an oversized body answered %d: %s", big.Status, big.Raw)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.MaxBodyBytes = 1024 }))
}

// Hostnames may hold what PostgreSQL's array literals quote (the batch is
// sent as arrays): they are stored as sent.
func TestCheckInHostnamesWithArraySyntax(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		ips := []string{"203.0.113.20", "203.0.113.21", "203.0.113.22", "203.0.113.23"}
		names := []string{`we"ird`, `back\slash`, `{braces},comma`, `NULL`}
		for _, ip := range ips {
			e.AddLicense(a.Token, ip, "KERNELCARE", "")
		}
		for i, ip := range ips {
			ok(t, e.LeanCheckInFrom(ip, names[i]))
		}
		got := lastCheckIns(t, e, a.Token)
		for i, ip := range ips {
			if h := got[ip+" KERNELCARE"].Hostname; h != names[i] {
				t.Errorf("%s: hostname %q, sent %q", ip, h, names[i])
			}
		}
	})
}
