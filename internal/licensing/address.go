package licensing

import (
	"net/netip"
	"strings"

	"clnd/internal/apperr"
)

// ParsePublicIP reads an IPv4 or IPv6 address and returns its canonical form
// (IPv4-mapped IPv6 becomes IPv4, IPv6 is lower-case and compressed). Only
// public unicast addresses can hold a license.
func ParsePublicIP(field, s string) (string, error) {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || addr.Zone() != "" {
		return "", apperr.Input(field, "%q is not an IPv4 or IPv6 address", s)
	}
	addr = addr.Unmap()
	switch {
	case addr.IsUnspecified():
		return "", apperr.Input(field, "%s is the unspecified address", addr)
	case addr.IsLoopback():
		return "", apperr.Input(field, "%s is a loopback address", addr)
	case addr.IsMulticast():
		return "", apperr.Input(field, "%s is a multicast address", addr)
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "", apperr.Input(field, "%s is a link-local address", addr)
	case addr.IsPrivate():
		return "", apperr.Input(field, "%s is a private address", addr)
	case isSharedOrReserved(addr):
		return "", apperr.Input(field, "%s is not a public address", addr)
	}
	return addr.String(), nil
}

// Ranges that are neither private nor public: carrier-grade NAT, "this
// network", benchmarking and the IPv4 reserved/broadcast block.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

func isSharedOrReserved(a netip.Addr) bool {
	for _, p := range nonPublic {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CanonicalIP reads any IPv4 or IPv6 address into the form licenses store,
// for matching (filters), without the public-address rules.
func CanonicalIP(field, s string) (string, error) {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return "", apperr.Input(field, "%q is not an IPv4 or IPv6 address", s)
	}
	return addr.Unmap().String(), nil
}
