package licensing

import "testing"

func TestParsePublicIP(t *testing.T) {
	good := map[string]string{
		"203.0.113.10":          "203.0.113.10",
		" 8.8.8.8 ":             "8.8.8.8",
		"2001:DB8:0:0:0:0:0:1":  "2001:db8::1",
		"::ffff:203.0.113.7":    "203.0.113.7",
		"2a00:1450:4001:81c::e": "2a00:1450:4001:81c::e",
	}
	for in, want := range good {
		got, err := ParsePublicIP("ip", in)
		if err != nil || got != want {
			t.Errorf("ParsePublicIP(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "nope", "1.2.3", "0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.1", "ff02::1",
		"169.254.1.1", "fe80::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1", "100.64.0.1", "255.255.255.255", "fe80::1%eth0"} {
		if _, err := ParsePublicIP("ip", in); err == nil {
			t.Errorf("ParsePublicIP(%q) succeeded; want BAD_USER_INPUT", in)
		}
	}
}
