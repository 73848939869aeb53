package server_test

import (
	"net/http"
	"strings"
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// TestHostileForwardedForSpoofing: a license at one address, and check-ins
// whose X-Forwarded-For (behind loopback, trusted, and 10.0.0.0/8, trusted
// by configuration) tries to pass for it. Only a chain whose every hop to
// the right of the address is trusted makes the check-in that address's: a
// client's own entries left of an untrusted hop are never believed, however
// they are written (ports, brackets, IPv4-mapped, zones, junk), and a long
// chain is walked without trouble.
func TestHostileForwardedForSpoofing(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("xff-spoof")
		const licensed = "203.0.113.170"
		e.AddLicense(seller.Token, licensed, "KERNELCARE", "")
		long := strings.Repeat("10.1.1.1, ", 20000) // a long chain of trusted hops
		for _, c := range []struct {
			xff  string
			want bool // the check-in is the licensed address's
		}{
			{licensed, true},
			{licensed + ":443", true},
			{"[::ffff:" + licensed + "]:443", true},
			{licensed + ", 10.0.0.1", true},
			{licensed + ", [10.0.0.1]:80", false}, // brackets are for IPv6 only: junk, the walk ends
			{licensed + ", [::ffff:10.0.0.1]", true},
			{long + licensed + ", 10.0.0.2", true}, // the forged hops left of it are never read
			{licensed + ", 198.51.100.7, " + long + "10.0.0.2", false},
			{licensed + ", " + long + "10.0.0.2", true},
			{licensed + ", 198.51.100.7", false},          // an untrusted hop ends the walk
			{licensed + ", 198.51.100.7:80", false},       // with its port too
			{licensed + ", [198.51.100.7]", false},        // or bracketed
			{licensed + ", fe80::1%eth0", false},          // a zoned hop is no trusted proxy
			{licensed + ", ::1%lo", true},                 // (loopback is, zone or not)
			{licensed + ", 10.0.0.1%eth0", false},         // junk ends the walk at the last believed hop
			{licensed + ", [10.0.0.1", false},             // so does half a bracket
			{licensed + ", 10.0.0.1:99999", false},        // and a port out of range
			{licensed + ",, 10.0.0.1", false},             // and an empty hop
			{"[" + licensed + "]:443:1, 10.0.0.1", false}, // and two ports
		} {
			r := e.PostCheckIn(http.MethodPost, "application/json", `{"hostname":"spoof.example"}`, map[string]string{"X-Forwarded-For": c.xff})
			if r.Status != http.StatusOK {
				t.Errorf("X-Forwarded-For %.80q: HTTP %d %s", c.xff, r.Status, r.Raw)
				continue
			}
			if got := len(r.Licensed) > 0; got != c.want {
				t.Errorf("X-Forwarded-For %.80q: licensed %v, want the licensed address's: %v", c.xff, r.Licensed, c.want)
			}
		}
	}, apitest.WithConfig(func(c *server.Config) {
		proxies, err := server.ParseProxies("10.0.0.0/8")
		if err != nil {
			panic(err)
		}
		c.TrustedProxies = proxies
	}))
}
