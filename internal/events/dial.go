package events

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"clnd/internal/publicip"
)

// Delivery limits.
const (
	deliveryTimeout = 10 * time.Second // one attempt, connect to last byte
	dialTimeout     = 5 * time.Second
	responseCap     = 64 << 10 // bytes of an answer read before hanging up
)

// errRefusedAddress is an endpoint resolving to an address clnd does not
// post to (private, loopback, link-local...) without --webhooks-allow-private.
var errRefusedAddress = errors.New("refused address")

// newHTTPClient is the client deliveries are posted with. It resolves the
// endpoint's host itself, refuses the addresses that are not public unless
// allowPrivate, and connects to the address it checked, so a DNS answer that
// changes between check and connect cannot point it inside. Redirects are
// not followed (a 3xx is a failed attempt) and proxies from the environment
// are not used (they would connect elsewhere than the checked address).
func newHTTPClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout}
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			addrs, err := resolve(ctx, host)
			if err != nil {
				return nil, err
			}
			var firstErr error
			for _, a := range addrs {
				if !allowPrivate {
					if reason := publicip.NotPublic(a, false); reason != "" {
						if firstErr == nil {
							firstErr = fmt.Errorf("%w: %s %s", errRefusedAddress, a, reason)
						}
						continue
					}
				}
				conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
				if err == nil {
					return conn, nil
				}
				if firstErr == nil || errors.Is(firstErr, errRefusedAddress) {
					firstErr = err
				}
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("%s resolves to no address", host)
			}
			return nil, firstErr
		},
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: deliveryTimeout,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   deliveryTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}
