package live

import (
	"sync"
	"sync/atomic"
)

// SubscriberBuffer is how many events a subscriber may fall behind by. A
// subscriber whose buffer is full is disconnected (its channel is closed)
// rather than slowing the publisher or silently losing events: the client
// sees its subscription end and can resubscribe and refetch.
const SubscriberBuffer = 256

// Hub delivers events to in-process subscribers. Publish never blocks.
type Hub struct {
	mu sync.RWMutex
	// byTenant holds each reseller's subscribers; operators are under "".
	byTenant map[string]map[*Subscription]struct{}

	delivered    atomic.Int64
	disconnected atomic.Int64
	// watchers are the subscribers from before onSubscribe until they
	// are removed: Presence keeps the instance listed while there are any.
	watchers atomic.Int64
	rendered atomic.Int64 // events rendered for a group of subscriptions (render.go)

	// onSubscribe, when set (Presence), runs before a subscriber is
	// registered; a subscriber it refuses ends at once.
	onSubscribe func() bool

	// revoked is closed (and replaced) when a credential is revoked.
	revokedMu sync.Mutex
	revoked   chan struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{byTenant: map[string]map[*Subscription]struct{}{}, revoked: make(chan struct{})}
}

// Revoked returns a channel that is closed at the next Revoke. A subscriber
// selects on it next to its events, rechecks its credential when it closes
// and then asks for the next one.
func (h *Hub) Revoked() <-chan struct{} {
	h.revokedMu.Lock()
	defer h.revokedMu.Unlock()
	return h.revoked
}

// Revoke tells every subscriber that a session or API token has been
// revoked, so each rechecks its own credential (revocations are rare; one
// lookup per open subscription each). It never waits for subscribers.
func (h *Hub) Revoke() {
	h.revokedMu.Lock()
	defer h.revokedMu.Unlock()
	close(h.revoked)
	h.revoked = make(chan struct{})
}

// Subscription is one subscriber's stream.
type Subscription struct {
	filter Filter
	// events point into the published batch, which every subscriber shares
	// and none modifies. A buffer of pointers is 2 KiB; one of events was
	// 38 KiB per subscriber, which the collector scanned on every cycle
	// (190 MB, half the heap, with 5,000 subscribers).
	events chan *Event
	once   sync.Once
}

// Events is the subscriber's stream; it is closed when the subscriber falls
// SubscriberBuffer events behind or unsubscribes.
// The events are shared: read them, never modify them.
func (s *Subscription) Events() <-chan *Event { return s.events }

// Subscribe registers a subscriber for events that pass the filter. When
// the other instances cannot be told that this one has subscribers
// (Presence: the database is unreachable), the subscription ends at once,
// as a subscriber that fell behind does: the client subscribes again.
func (h *Hub) Subscribe(f Filter) *Subscription {
	s := &Subscription{filter: f, events: make(chan *Event, SubscriberBuffer)}
	h.watchers.Add(1) // first: Presence must not unlist one about to be registered
	if h.onSubscribe != nil && !h.onSubscribe() {
		h.watchers.Add(-1)
		s.once.Do(func() { close(s.events) })
		return s
	}
	h.mu.Lock()
	subs := h.byTenant[f.ResellerID]
	if subs == nil {
		subs = map[*Subscription]struct{}{}
		h.byTenant[f.ResellerID] = subs
	}
	subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Watched reports whether there is a subscriber: the check-in writer
// builds no events for a batch nobody here or elsewhere watches.
func (h *Hub) Watched() bool { return h.watchers.Load() > 0 }

// Unsubscribe removes a subscriber and closes its stream.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.mu.Lock()
	if subs := h.byTenant[s.filter.ResellerID]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(h.byTenant, s.filter.ResellerID)
		}
	}
	h.mu.Unlock()
	s.once.Do(func() {
		close(s.events)
		h.watchers.Add(-1) // never waits: Publish removes slow subscribers
	})
}

// Publish delivers events to the subscribers of their tenant and to
// operators. It never waits: a subscriber with a full buffer is dropped.
// The events published together share one batch, so what subscribers select
// of them beyond their own fields is loaded once for all (rows.go).
func (h *Hub) Publish(published []Event) {
	b := &batch{events: make([]Event, len(published)), hub: h}
	copy(b.events, published)
	events := b.events
	for i := range events {
		events[i].batch, events[i].index = b, i
	}
	var overflowed map[*Subscription]bool
	h.mu.RLock()
	operators := h.byTenant[""]
	for i := range events {
		e := &events[i]
		for _, subs := range []map[*Subscription]struct{}{h.byTenant[e.ResellerID], operators} {
			for s := range subs {
				if !s.filter.Match(e) {
					continue
				}
				select {
				case s.events <- e:
					h.delivered.Add(1)
				default:
					if overflowed == nil {
						overflowed = map[*Subscription]bool{}
					}
					overflowed[s] = true
				}
			}
		}
	}
	h.mu.RUnlock()
	for s := range overflowed {
		h.disconnected.Add(1)
		h.Unsubscribe(s)
	}
}

// Renderings is how many times an event has been rendered for a group of
// subscriptions that share their rendering (render.go): once per event and
// group, however many subscribers the group has.
func (h *Hub) Renderings() int64 { return h.rendered.Load() }

// Stats are the hub's counters for metrics.
func (h *Hub) Stats() (subscribers int, delivered, disconnected int64) {
	h.mu.RLock()
	for _, subs := range h.byTenant {
		subscribers += len(subs)
	}
	h.mu.RUnlock()
	return subscribers, h.delivered.Load(), h.disconnected.Load()
}
