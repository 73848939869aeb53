package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/live"
	"clnd/internal/reqinfo"
	"clnd/internal/viewer"
)

// SharedRenderings renders each check-in event once per group of
// subscriptions rather than once per subscriber: subscriptions with the same
// document, operation, variables and caller (and request origin, which
// absolute links are made of) render any event identically, so the first of
// a group to reach an event renders it and the rest of the group send the
// same response. With dashboards that share an API token, an event for a
// reseller with 50 subscribers is rendered once, not 50 times.
//
// Each subscriber still has its own stream: its own buffer in the hub, its
// own credential rechecks, and its own writes, in its own goroutine, to its
// own connection, so a slow one is dropped alone (live.Hub) and never delays
// the others. Register it after the middleware that settles the caller.
type SharedRenderings struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = SharedRenderings{}

func (SharedRenderings) ExtensionName() string                   { return "SharedRenderings" }
func (SharedRenderings) Validate(graphql.ExecutableSchema) error { return nil }

// sharedStream is where a subscription resolver hands its events over to
// InterceptResponse instead of to gqlgen's channel.
type sharedStream struct {
	group string
	// Set by the resolver (attach) before the first response is asked for:
	// gqlgen calls a subscription's resolver when it dispatches the operation.
	events  <-chan *live.Event // the subscriber's own hub buffer (events shared by every subscriber)
	stopped <-chan struct{}    // closed when the subscription ends (revoked, or the hub let go)
	render  chan *live.Event   // gqlgen's channel: an event to render through the schema
}

type sharedStreamKey struct{}

// InterceptOperation gives every subscription operation a stream for its
// resolver to attach to.
func (SharedRenderings) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	return next(context.WithValue(ctx, sharedStreamKey{}, &sharedStream{group: renderGroup(ctx, oc)}))
}

// attachSharedStream hands the resolver's events to InterceptResponse when
// the operation has a stream, and returns false otherwise (the resolver
// then sends its events down its own channel).
func attachSharedStream(ctx context.Context, events <-chan *live.Event, stopped <-chan struct{}, render chan *live.Event) bool {
	s, _ := ctx.Value(sharedStreamKey{}).(*sharedStream)
	if s == nil || s.events != nil {
		return false // not a subscription operation, or a second root field
	}
	s.events, s.stopped, s.render = events, stopped, render
	return true
}

// InterceptResponse takes the subscriber's next event and answers with its
// group's rendering of it, rendering it through the schema (next) when it is
// the first of the group to get there.
func (SharedRenderings) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	s, _ := ctx.Value(sharedStreamKey{}).(*sharedStream)
	if s == nil || s.events == nil {
		return next(ctx)
	}
	var e *live.Event
	select {
	case <-s.stopped:
		return nil // revoked or dropped: what is still buffered is not sent
	case <-ctx.Done():
		return nil
	case ev, ok := <-s.events:
		if !ok {
			return nil // the hub let go of this subscriber
		}
		e = ev
	}
	select {
	case <-s.stopped:
		return nil
	default:
	}
	v := e.Rendered(ctx, s.group, func() (any, bool) {
		s.render <- e // buffered, and only ever sent to from here; gqlgen only reads it
		rsp := next(ctx)
		if rsp == nil || len(rsp.Errors) > 0 || len(rsp.Extensions) > 0 {
			return rsp, false
		}
		// gqlgen reuses the subscriber's buffer for its next event.
		return &graphql.Response{Data: bytes.Clone(rsp.Data)}, true
	})
	rsp, _ := v.(*graphql.Response)
	if rsp == nil {
		return nil
	}
	own := *rsp // the rendering is shared; the response around it is this subscriber's
	return &own
}

// renderGroup is what decides how a subscription renders an event: the
// caller (role, tenant, scope, credential), the origin links are made from,
// the operation and its variables. Empty when the variables cannot be
// encoded: such a subscription shares nothing.
func renderGroup(ctx context.Context, oc *graphql.OperationContext) string {
	vars, err := json.Marshal(oc.Variables) // map keys sorted: one text per value
	if err != nil {
		return ""
	}
	v := viewer.FromContext(ctx)
	var b strings.Builder
	fmt.Fprintf(&b, "%d\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00", v.Role, v.ResellerID, v.Scope, v.SessionID, v.TokenID,
		reqinfo.FromContext(ctx).Origin, oc.OperationName)
	b.WriteString(oc.RawQuery)
	b.WriteByte(0)
	b.Write(vars)
	return b.String()
}
