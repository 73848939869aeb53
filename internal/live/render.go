package live

import "context"

// renderKey is one event as one group of subscriptions sees it.
type renderKey struct {
	group string
	index int
}

// rendering is an event rendered for a group: done closes when value is set,
// shared says whether the others of the group may use it.
type rendering struct {
	done   chan struct{}
	value  any
	shared bool
}

// Rendered returns the event as the subscriptions of group render it: the
// first of the group to ask renders it, and every other subscriber of the
// group receives the same value instead of rendering it again. A group is
// what decides the rendering entirely (the document, its variables and the
// caller: graph/subscription_share.go); an empty group shares nothing.
//
// render returns the value and whether it may be shared (an answer with
// errors is not: it names the request that failed). Subscribers asking
// while the first renders wait for it (it only reads, never writes to a
// connection, so a slow subscriber cannot hold the others up); when it
// cannot be shared, or ctx ends first, each renders its own.
func (e *Event) Rendered(ctx context.Context, group string, render func() (value any, shared bool)) any {
	b := e.batch
	if b == nil || group == "" {
		v, _ := render()
		return v
	}
	key := renderKey{group, e.index}
	b.renderMu.Lock()
	r := b.renderings[key]
	if r == nil {
		if b.renderings == nil {
			b.renderings = map[renderKey]*rendering{}
		}
		r = &rendering{done: make(chan struct{})}
		b.renderings[key] = r
		b.renderMu.Unlock()
		func() {
			defer close(r.done) // a panic in render must not strand the others
			r.value, r.shared = render()
		}()
		b.hub.rendered.Add(1)
		return r.value
	}
	b.renderMu.Unlock()
	select {
	case <-r.done:
		if r.shared {
			return r.value
		}
	case <-ctx.Done():
	}
	v, _ := render()
	return v
}
