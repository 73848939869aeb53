package licensing_test

import (
	"encoding/json"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// Addresses that wrap a private IPv4 in IPv6 are refused like the IPv4
// itself; documentation addresses only in sandbox mode.
func TestLicenseAddressRules(t *testing.T) {
	wrapsPrivate := []string{"10.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1", "::a00:1",
		"2001:0:4136:e378:8000:63bf:f5ff:fffe", "64:ff9b:1::a00:1", "::1", "fd00::1"}
	documentation := []string{"203.0.113.5", "198.51.100.5", "192.0.2.5", "2001:db8::5", "3fff::5", "2002:cb00:7105::1"}
	public := map[string]string{"45.1.2.3": "45.1.2.3", "64:ff9b::2d01:204": "64:ff9b::2d01:204", "2002:2d01:205::1": "2002:2d01:205::1",
		"::ffff:45.1.2.6": "45.1.2.6", "2A00:1450:4001:81C::E": "2a00:1450:4001:81c::e"}
	const imp = `mutation($rid: ID!, $ls: [ImportIPLicenseInput!]!) {
		importIPLicenses(input: {resellerID: $rid, licenses: $ls}) { licenses { ip } } }`
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
				a := e.Register("alice")
				add := func(ip string) *apitest.Response {
					return e.Do(apitest.Request{Token: a.Token, Query: addMutation, Variables: map[string]any{"ip": ip, "type": "KERNELCARE"}})
				}
				for _, ip := range wrapsPrivate {
					if r := add(ip); r.Code() != "BAD_USER_INPUT" || r.Field() != "ip" {
						t.Errorf("addIPLicense(%s): %s", ip, r.Raw)
					}
				}
				for _, ip := range documentation {
					r := add(ip)
					if sandbox && r.Code() != "" || !sandbox && (r.Code() != "BAD_USER_INPUT" || r.Field() != "ip") {
						t.Errorf("addIPLicense(%s): %s", ip, r.Raw)
					}
				}
				for ip, canonical := range public {
					var out struct {
						AddIPLicense struct{ License license }
					}
					r := add(ip)
					if r.Code() != "" || json.Unmarshal(r.Data, &out) != nil || out.AddIPLicense.License.IP != canonical {
						t.Errorf("addIPLicense(%s): %s; want %s", ip, r.Raw, canonical)
					}
				}

				// An import is all or nothing: one wrapped private address fails it.
				addedAt := time.Now().Add(-24 * time.Hour)
				if sandbox {
					addedAt = apitest.Start.Add(-24 * time.Hour)
				}
				good := map[string]any{"ip": "45.9.9.9", "type": "CLOUDLINUX_OS", "addedAt": addedAt}
				for _, ip := range []string{"2002:c0a8:101::1", "64:ff9b::7f00:1"} {
					ls := []map[string]any{good, {"ip": ip, "type": "CLOUDLINUX_OS", "addedAt": addedAt}}
					e.Expect("BAD_USER_INPUT", "ip", e.OperatorToken, imp, map[string]any{"rid": a.ID, "ls": ls})
				}
				docs := []map[string]any{good, {"ip": "203.0.113.99", "type": "CLOUDLINUX_OS", "addedAt": addedAt}}
				r := e.Do(apitest.Request{Token: e.OperatorToken, Query: imp, Variables: map[string]any{"rid": a.ID, "ls": docs}})
				if sandbox && r.Code() != "" || !sandbox && (r.Code() != "BAD_USER_INPUT" || r.Field() != "ip") {
					t.Errorf("importIPLicenses with a documentation address: %s", r.Raw)
				}
				want := len(public)
				if sandbox {
					want += len(documentation) + 2
				}
				if n, _ := list(t, e, a.Token, ``); n != want {
					t.Errorf("%d licenses stored, want %d", n, want)
				}
			}, opts...)
		})
	}
}
