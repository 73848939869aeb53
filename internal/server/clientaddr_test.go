package server

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{TrustedProxies: proxies}}
	cases := []struct {
		remote, xff, want string
	}{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},                 // untrusted client: header ignored
		{"127.0.0.1:1234", "198.51.100.1", "198.51.100.1"},                  // loopback is trusted
		{"[::1]:1234", "2001:db8::1", "2001:db8::1"},                        // so is IPv6 loopback
		{"10.1.2.3:80", "198.51.100.1, 10.9.9.9", "198.51.100.1"},           // trusted hops are skipped
		{"10.1.2.3:80", "6.6.6.6, 198.51.100.1, 192.0.2.7", "198.51.100.1"}, // a forged leftmost hop is not believed
		{"192.0.2.7:80", "garbage", "192.0.2.7"},
		{"192.0.2.7:80", "203.0.113.10:1234", "203.0.113.10"},                 // a hop with its port, as some proxies write it
		{"192.0.2.7:80", "[2001:db8:10::5]:443", "2001:db8:10::5"},            // IPv6 with a port
		{"192.0.2.7:80", "[2001:db8:10::5]", "2001:db8:10::5"},                // bracketed, no port
		{"10.1.2.3:80", "198.51.100.1:5555, 10.9.9.9:80", "198.51.100.1"},     // ports in a list
		{"10.1.2.3:80", "198.51.100.1, [::ffff:10.9.9.9]:80", "198.51.100.1"}, // a mapped trusted hop is unmapped
		{"[::ffff:203.0.113.9]:80", "", "203.0.113.9"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/graphql", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientAddr(r).String(); got != c.want {
			t.Errorf("remote %s, X-Forwarded-For %q: got %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if _, err := ParseProxies("nope"); err == nil {
		t.Error("a bad proxy list was accepted")
	}
}
