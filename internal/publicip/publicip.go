// Package publicip decides which IP addresses are public: IANA's
// special-purpose address registries, embedded IPv4 unwrapped. Licenses and
// servers bind only public addresses (internal/licensing), and webhooks are
// delivered only to them (internal/events); this package imports nothing of
// clnd's, so both can use it.
package publicip

import (
	"net/netip"
	"strings"
)

// NotPublic says why an (unmapped) address cannot be bound, such as "is a
// private-use address", or "" when it can.
func NotPublic(addr netip.Addr, sandbox bool) string {
	sr, ok := lookup(addr)
	if !ok {
		if addr.Is6() && !globalUnicast.Contains(addr) {
			return "is outside the global unicast space (2000::/3)"
		}
		return ""
	}
	if sr.wraps != nil {
		for _, inner := range sr.wraps(addr.As16()) {
			if reason := NotPublic(inner, sandbox); reason != "" {
				return "wraps " + inner.String() + " (" + sr.name + "), which " + reason
			}
		}
	}
	switch {
	case sr.documentation && sandbox:
		return ""
	case sr.documentation:
		return "is a documentation address (" + sr.name + "), accepted in sandbox mode only"
	case !sr.global:
		return "is " + article(sr.name) + " " + sr.name + " address"
	}
	return ""
}

// specialRange is one entry of IANA's IPv4 or IPv6 special-purpose address
// registry (or of the address space registries, for multicast and reserved
// space).
type specialRange struct {
	prefix netip.Prefix
	name   string
	// global is the registry's "Globally Reachable".
	global bool
	// documentation ranges are accepted in sandbox mode only.
	documentation bool
	// wraps returns the IPv4 addresses embedded in an address of the range,
	// each of which must be acceptable itself.
	wraps func([16]byte) []netip.Addr
}

func reserved(prefix, name string) specialRange {
	return specialRange{prefix: netip.MustParsePrefix(prefix), name: name}
}

func reachable(prefix, name string) specialRange {
	return specialRange{prefix: netip.MustParsePrefix(prefix), name: name, global: true}
}

func documentation(prefix, name string) specialRange {
	return specialRange{prefix: netip.MustParsePrefix(prefix), name: name, documentation: true}
}

func wrapping(prefix, name string, global bool, wraps func([16]byte) []netip.Addr) specialRange {
	return specialRange{prefix: netip.MustParsePrefix(prefix), name: name, global: global, wraps: wraps}
}

// IPv4 in the last 32 bits: IPv4-compatible and NAT64 (RFC 6052's /96).
func last32(b [16]byte) []netip.Addr { return []netip.Addr{netip.AddrFrom4([4]byte(b[12:16]))} }

// 6to4 (RFC 3056): 2002:AABB:CCDD::/48 is the site behind AA.BB.CC.DD.
func sixToFour(b [16]byte) []netip.Addr { return []netip.Addr{netip.AddrFrom4([4]byte(b[2:6]))} }

// Teredo (RFC 4380): the server's IPv4 in bits 32–63, the client's public
// IPv4 in the last 32 bits, inverted.
func teredo(b [16]byte) []netip.Addr {
	client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
	return []netip.Addr{netip.AddrFrom4([4]byte(b[4:8])), netip.AddrFrom4(client)}
}

// specialRanges is IANA's registries as of 2025. An address belongs to its
// longest matching prefix, so the globally reachable anycast addresses
// inside 192.0.0.0/24 and 2001::/23 are accepted and the rest refused.
var specialRanges = []specialRange{
	// iana-ipv4-special-registry
	reserved("0.0.0.0/8", `"this network"`),
	reserved("10.0.0.0/8", "private-use"),
	reserved("100.64.0.0/10", "shared (carrier-grade NAT)"),
	reserved("127.0.0.0/8", "loopback"),
	reserved("169.254.0.0/16", "link-local"),
	reserved("172.16.0.0/12", "private-use"),
	reserved("192.0.0.0/24", "IETF protocol assignment"),
	reachable("192.0.0.9/32", "Port Control Protocol anycast"),
	reachable("192.0.0.10/32", "TURN anycast"),
	documentation("192.0.2.0/24", "TEST-NET-1"),
	reachable("192.31.196.0/24", "AS112-v4"),
	reachable("192.52.193.0/24", "AMT"),
	reserved("192.88.99.0/24", "deprecated 6to4 relay anycast"),
	reserved("192.168.0.0/16", "private-use"),
	reachable("192.175.48.0/24", "AS112 direct delegation"),
	reserved("198.18.0.0/15", "benchmarking"),
	documentation("198.51.100.0/24", "TEST-NET-2"),
	documentation("203.0.113.0/24", "TEST-NET-3"),
	reserved("240.0.0.0/4", "reserved"),
	reserved("255.255.255.255/32", "limited broadcast"),
	// ipv4-address-space
	reserved("224.0.0.0/4", "multicast"),

	// iana-ipv6-special-registry
	reserved("::/128", "unspecified"),
	reserved("::1/128", "loopback"),
	wrapping("::/96", "deprecated IPv4-compatible", false, last32),
	wrapping("64:ff9b::/96", "NAT64", true, last32),
	reserved("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
	reserved("100::/64", "discard-only"),
	reserved("100:0:0:1::/64", "dummy IPv6 prefix"),
	reserved("2001::/23", "IETF protocol assignment"),
	wrapping("2001::/32", "Teredo", true, teredo),
	reachable("2001:1::1/128", "Port Control Protocol anycast"),
	reachable("2001:1::2/128", "TURN anycast"),
	reachable("2001:1::3/128", "DNS-SD service registration anycast"),
	reserved("2001:2::/48", "benchmarking"),
	reachable("2001:3::/32", "AMT"),
	reachable("2001:4:112::/48", "AS112-v6"),
	reserved("2001:10::/28", "deprecated ORCHID"),
	reachable("2001:20::/28", "ORCHIDv2"),
	reachable("2001:30::/28", "drone remote ID"),
	documentation("2001:db8::/32", "2001:db8::/32"),
	wrapping("2002::/16", "6to4", true, sixToFour),
	reachable("2620:4f:8000::/48", "AS112 direct delegation"),
	documentation("3fff::/20", "3fff::/20"),
	reserved("5f00::/16", "segment routing SID"),
	reserved("fc00::/7", "unique-local"),
	reserved("fe80::/10", "link-local"),
	// ipv6-address-space
	reserved("ff00::/8", "multicast"),
}

// globalUnicast is the IPv6 space IANA allocates for global unicast; the
// rest is reserved by the IETF unless the special-purpose registry says
// otherwise.
var globalUnicast = netip.MustParsePrefix("2000::/3")

// lookup finds the longest special-purpose prefix holding addr.
func lookup(addr netip.Addr) (specialRange, bool) {
	var best specialRange
	found := false
	for _, sr := range specialRanges {
		if sr.prefix.Contains(addr) && (!found || sr.prefix.Bits() > best.prefix.Bits()) {
			best, found = sr, true
		}
	}
	return best, found
}

func article(word string) string {
	if strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}
