// Package reqinfo carries facts about the HTTP request (its id and the
// client's address) to code below the transport.
package reqinfo

import (
	"context"
	"net/netip"
)

// Info describes one request.
type Info struct {
	ID         string
	ClientAddr netip.Addr // after X-Forwarded-For from trusted proxies
	// Origin is how the client reached clnd ("https://clnd.example"), for
	// absolute links when no public URL is configured.
	Origin string
}

type ctxKey struct{}

// NewContext returns a context carrying info.
func NewContext(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, info)
}

// FromContext returns the request's info, zero outside a request.
func FromContext(ctx context.Context) Info {
	info, _ := ctx.Value(ctxKey{}).(Info)
	return info
}
