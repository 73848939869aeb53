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
	addr = addr.Unmap()
	forwarded := r.Header.Values("X-Forwarded-For")
	if len(forwarded) == 0 || !s.trusted(addr) {
		return addr
	}
	if len(forwarded) == 1 && !strings.Contains(forwarded[0], ",") {
		// One hop, as a single proxy sends it: no list to build.
		hop, err := netip.ParseAddr(strings.TrimSpace(forwarded[0]))
		if err != nil {
			return addr
		}
		return hop.Unmap()
	}
	hops := strings.Split(strings.Join(forwarded, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr
		}
		addr = hop.Unmap()
		if !s.trusted(addr) {
			return addr
		}
	}
	return addr
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
