// Package clock is the only place clnd reads the time. Everything else asks
// the Clock carried in the context, so that sandbox mode can move "now".
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// System is the real clock.
type System struct{}

// Now returns the wall-clock time in UTC.
// Truncated to microseconds: what PostgreSQL stores, so a time reads back equal.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Wall returns the real time even in sandbox mode: for measuring durations,
// timeouts and metrics, never for business timestamps.
func Wall() time.Time { return time.Now().UTC() }

// Frozen is the sandbox test clock: time stands still until it is advanced,
// like Stripe's test clocks, so tests and demos are repeatable.
type Frozen struct {
	mu  sync.RWMutex
	now time.Time
}

// NewFrozen returns a test clock standing at t.
func NewFrozen(t time.Time) *Frozen { return &Frozen{now: t.UTC()} }

// Now returns the clock's time.
func (f *Frozen) Now() time.Time {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.now
}

// Set moves the clock to t if t is not before the current time; it reports
// whether it moved (or stayed equal).
func (f *Frozen) Set(t time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Before(f.now) {
		return false
	}
	f.now = t.UTC()
	return true
}

type ctxKey struct{}

// NewContext returns a context carrying c.
func NewContext(ctx context.Context, c Clock) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the context's clock, or nil when there is none.
func FromContext(ctx context.Context) Clock {
	c, _ := ctx.Value(ctxKey{}).(Clock)
	return c
}

// Now is the current business time of the context's clock. A context without
// a clock is a programming error: it panics rather than silently using the
// wall clock in sandbox mode.
func Now(ctx context.Context) time.Time {
	c := FromContext(ctx)
	if c == nil {
		panic("clock: context carries no clock")
	}
	return c.Now()
}
