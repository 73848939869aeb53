package clnapi_test

import (
	"net/http"
	"testing"

	"clnd/internal/apitest"
)

// TestHostileAddressSpellings: the CLN API applies GraphQL's address rules
// to every spelling: private, special and zoned addresses are refused,
// embedded IPv4 is unwrapped, and another spelling of a licensed address
// finds (and conflicts with) the same license.
func TestHostileAddressSpellings(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		for _, ip := range []string{"10.0.0.1", "127.0.0.1", "0.0.0.0", "169.254.169.254", "::1", "::", "fe80::1", "fe80::1%eth0",
			"2001:db8::1%eth0", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:0a00:0001::1", "::127.0.0.1", "fc00::1",
			"0203.0.113.5", "203.0.113.5/32", "[2001:db8::5]", "203.0.113", "2130706433", "0x7f000001", "224.0.0.1", "255.255.255.255",
			"100.64.0.1", "ff02::1"} {
			if a := c.get("ipl/register.json", "ip", ip, "type", "1"); a.Success || a.Status != http.StatusBadRequest || a.Code != "BAD_USER_INPUT" {
				t.Errorf("register %q: HTTP %d success=%v %s %q", ip, a.Status, a.Success, a.Code, a.Message)
			}
		}
		var lic License
		c.ok(&lic, "ipl/register.json", "ip", "::ffff:203.0.113.7", "type", "1")
		if lic.IP != "203.0.113.7" {
			t.Fatalf("a mapped address is stored as %q", lic.IP)
		}
		c.fails(http.StatusConflict, "ipl/register.json", "ip", "203.0.113.7", "type", "4")
		var v6 License
		c.ok(&v6, "ipl/register.json", "ip", "2001:DB8:0:0::0:9", "type", "16")
		if v6.IP != "2001:db8::9" {
			t.Fatalf("IPv6 stored as %q", v6.IP)
		}
		var codes []int
		c.ok(&codes, "ipl/check.json", "ip", "2001:db8::0:9")
		if len(codes) != 1 || codes[0] != 16 {
			t.Fatalf("check of another spelling: %v", codes)
		}
		c.ok(nil, "ipl/remove.json", "ip", "::ffff:203.0.113.7")
		c.ok(&codes, "ipl/check.json", "ip", "203.0.113.7")
		if len(codes) != 0 {
			t.Fatalf("removed by another spelling, still licensed: %v", codes)
		}
	})
}
