package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address of whoever sent the request. X-Forwarded-For is
// read right to left and believed only while each hop is a trusted proxy, so a
// client cannot claim someone else's address by sending the header itself.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return s.forwardedFor(addr.Unmap(), r.Header.Values("X-Forwarded-For"))
}

// forwardedFor is clientAddr for a request from peer that carried these
// X-Forwarded-For values.
func (s *Server) forwardedFor(peer netip.Addr, forwarded []string) netip.Addr {
	addr := peer
	if len(forwarded) == 0 || !s.trusted(addr) {
		return addr
	}
	if len(forwarded) == 1 && !strings.Contains(forwarded[0], ",") {
		// One hop, as a single proxy sends it: no list to build.
		hop, ok := parseHop(forwarded[0])
		if !ok {
			return addr
		}
		return hop
	}
	hops := strings.Split(strings.Join(forwarded, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			return addr
		}
		addr = hop
		if !s.trusted(addr) {
			return addr
		}
	}
	return addr
}

// parseHop reads one X-Forwarded-For entry: an address, or an address with
// a port as some proxies write it ("203.0.113.10:1234", "[2001:db8::5]:443",
// "[2001:db8::5]"). A hop that is none of these ends the walk: the request
// is then the last believed hop's (the proxy's own address, for the first).
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func (s *Server) trusted(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// trustedPeer reports whether the request's TCP peer is a trusted proxy.
func (s *Server) trustedPeer(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && s.trusted(addr.Unmap())
}
