package licensing

import (
	"strings"
	"testing"
)

func TestParsePublicIP(t *testing.T) {
	// Accepted in both modes, with their canonical form.
	public := map[string]string{
		"8.8.8.8":                              "8.8.8.8",
		" 45.1.1.1 ":                           "45.1.1.1",
		"::ffff:8.8.4.4":                       "8.8.4.4",
		"2a00:1450:4001:81c::e":                "2a00:1450:4001:81c::e",
		"2A00:1450:4001:081C:0:0:0:E":          "2a00:1450:4001:81c::e",
		"64:ff9b::808:808":                     "64:ff9b::808:808",                     // NAT64 of 8.8.8.8
		"2002:808:808::1":                      "2002:808:808::1",                      // 6to4 of 8.8.8.8
		"2001:0:4136:e378:8000:63bf:f7f7:f7f7": "2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo: server 65.54.227.120, client 8.8.8.8
		"192.0.0.9":                            "192.0.0.9",                            // PCP anycast, globally reachable inside 192.0.0.0/24
		"2001:1::1":                            "2001:1::1",                            // PCP anycast, inside 2001::/23
		"2001:4:112::1":                        "2001:4:112::1",                        // AS112-v6
		"192.31.196.1":                         "192.31.196.1",                         // AS112-v4
		"3fff:1000::1":                         "3fff:1000::1",                         // just past the documentation /20
		"198.51.99.255":                        "198.51.99.255",                        // just before TEST-NET-2
	}
	// Refused in both modes, with a word of the reason.
	refused := map[string]string{
		"":                                     "not an IPv4 or IPv6 address",
		"nope":                                 "not an IPv4 or IPv6 address",
		"1.2.3":                                "not an IPv4 or IPv6 address",
		"fe80::1%eth0":                         "not an IPv4 or IPv6 address",
		"0.0.0.0":                              "this network",
		"0.1.2.3":                              "this network",
		"10.1.2.3":                             "private-use",
		"100.64.0.1":                           "shared",
		"127.0.0.1":                            "loopback",
		"169.254.1.1":                          "link-local",
		"172.16.0.1":                           "private-use",
		"192.0.0.1":                            "IETF protocol assignment",
		"192.0.0.170":                          "IETF protocol assignment",
		"192.88.99.1":                          "6to4 relay",
		"192.168.1.1":                          "private-use",
		"198.18.0.1":                           "benchmarking",
		"224.0.0.1":                            "multicast",
		"239.1.1.1":                            "multicast",
		"240.0.0.1":                            "reserved",
		"255.255.255.255":                      "broadcast",
		"::":                                   "unspecified",
		"::1":                                  "loopback",
		"::ffff:10.0.0.1":                      "10.0.0.1 is a private-use",
		"::a00:1":                              "wraps 10.0.0.1 (deprecated IPv4-compatible), which is a private-use",
		"::808:808":                            "deprecated IPv4-compatible",
		"64:ff9b::a00:1":                       "wraps 10.0.0.1 (NAT64), which is a private-use",
		"64:ff9b::7f00:1":                      "wraps 127.0.0.1 (NAT64), which is a loopback",
		"64:ff9b:1::a00:1":                     "local-use IPv4/IPv6 translation",
		"64:ff9b:1::808:808":                   "local-use IPv4/IPv6 translation",
		"2002:a00:1::1":                        "wraps 10.0.0.1 (6to4), which is a private-use",
		"2002:c0a8:101::1":                     "wraps 192.168.1.1 (6to4)",
		"2002:7f00:1::":                        "wraps 127.0.0.1 (6to4)",
		"2001:0:4136:e378:8000:63bf:f5ff:fffe": "wraps 10.0.0.1 (Teredo)", // the client, obfuscated
		"2001:0:a00:1:8000:63bf:f7f7:f7f7":     "wraps 10.0.0.1 (Teredo)", // the server
		"2001:2::1":                            "benchmarking",
		"2001:10::1":                           "ORCHID",
		"2001:100::1":                          "IETF protocol assignment",
		"100::1":                               "discard-only",
		"5f00::1":                              "segment routing",
		"fc00::1":                              "unique-local",
		"fd12:3456::1":                         "unique-local",
		"fe80::1":                              "link-local",
		"ff02::1":                              "multicast",
		"4000::1":                              "global unicast space",
		"::2:0:0:1":                            "global unicast space",
	}
	// Documentation addresses: accepted in sandbox mode only.
	documentation := map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"198.51.100.7":         "198.51.100.7",
		"203.0.113.10":         "203.0.113.10",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8::1":          "2001:db8::1",
		"2001:DB8:0:0:0:0:0:1": "2001:db8::1",
		"3fff::1":              "3fff::1",
		"3fff:fff:ffff::1":     "3fff:fff:ffff::1",
		"64:ff9b::cb00:7107":   "64:ff9b::cb00:7107", // NAT64 of 203.0.113.7
		"2002:cb00:7107::1":    "2002:cb00:7107::1",  // 6to4 of 203.0.113.7
	}
	for _, sandbox := range []bool{false, true} {
		for in, want := range public {
			if got, err := ParsePublicIP("ip", in, sandbox); err != nil || got != want {
				t.Errorf("sandbox %v: ParsePublicIP(%q) = %q, %v; want %q", sandbox, in, got, err, want)
			}
		}
		for in, reason := range refused {
			if _, err := ParsePublicIP("ip", in, sandbox); err == nil || !strings.Contains(err.Error(), reason) {
				t.Errorf("sandbox %v: ParsePublicIP(%q) = %v; want BAD_USER_INPUT saying %q", sandbox, in, err, reason)
			}
		}
		for in, want := range documentation {
			got, err := ParsePublicIP("ip", in, sandbox)
			switch {
			case sandbox && (err != nil || got != want):
				t.Errorf("sandbox: ParsePublicIP(%q) = %q, %v; want %q", in, got, err, want)
			case !sandbox && (err == nil || !strings.Contains(err.Error(), "documentation")):
				t.Errorf("production: ParsePublicIP(%q) = %q, %v; want a documentation-range refusal", in, got, err)
			}
		}
	}
}
