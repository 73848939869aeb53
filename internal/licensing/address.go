package licensing

import (
	"net/netip"
	"strings"

	"clnd/internal/apperr"
	"clnd/internal/publicip"
)

// ParsePublicIP reads the address a license or a server binds and returns
// its canonical form (IPv4-mapped IPv6 becomes IPv4, IPv6 is lower-case and
// compressed). Only globally reachable unicast addresses are accepted, as
// IANA's special-purpose address registries say, with an IPv4 address
// wrapped in IPv6 (IPv4-compatible, NAT64, 6to4, Teredo) judged as itself.
// The documentation ranges are accepted in sandbox mode only, where demos
// and integration tests use them.
func ParsePublicIP(field, s string, sandbox bool) (string, error) {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || addr.Zone() != "" {
		return "", apperr.Input(field, "%q is not an IPv4 or IPv6 address", s)
	}
	addr = addr.Unmap()
	if reason := NotPublic(addr, sandbox); reason != "" {
		return "", apperr.Input(field, "%s %s", addr, reason)
	}
	return addr.String(), nil
}

// NotPublic says why an (unmapped) address cannot be bound, such as "is a
// private-use address", or "" when it can (internal/publicip decides).
func NotPublic(addr netip.Addr, sandbox bool) string { return publicip.NotPublic(addr, sandbox) }

// CanonicalIP reads any IPv4 or IPv6 address into the form licenses store,
// for matching (filters), without the public-address rules.
func CanonicalIP(field, s string) (string, error) {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return "", apperr.Input(field, "%q is not an IPv4 or IPv6 address", s)
	}
	return addr.Unmap().String(), nil
}
