package live_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/live"
)

// published returns what n subscribers received of one published event.
func published(t *testing.T, h *live.Hub, n int) []*live.Event {
	t.Helper()
	var subs []*live.Subscription
	for range n {
		subs = append(subs, h.Subscribe(live.Filter{ResellerID: "r1"}))
	}
	h.Publish([]live.Event{{ResellerID: "r1", IP: "203.0.113.10"}})
	var events []*live.Event
	for _, s := range subs {
		events = append(events, <-s.Events())
	}
	return events
}

// Subscribers of one group asking at once get the first one's rendering;
// another group renders its own; an unshared rendering (one with errors)
// is rendered again by each; a rendering that panics strands no one.
func TestRenderedOncePerGroup(t *testing.T) {
	h := live.NewHub()
	events := published(t, h, 20)
	var renders atomic.Int64
	release := make(chan struct{})
	render := func(v string, shared bool) func() (any, bool) {
		return func() (any, bool) {
			renders.Add(1)
			<-release // everyone else of the group asks meanwhile
			return v, shared
		}
	}
	var wg sync.WaitGroup
	got := make([]any, len(events))
	for i := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = events[i].Rendered(context.Background(), "group A", render("A", true))
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != "A" {
			t.Fatalf("subscriber %d got %v", i, v)
		}
	}
	if n := renders.Load(); n != 1 {
		t.Fatalf("%d renderings for one group, want 1", n)
	}
	if v := events[0].Rendered(context.Background(), "group B", render("B", true)); v != "B" || renders.Load() != 2 {
		t.Fatalf("group B got %v after %d renderings", v, renders.Load())
	}
	if n := h.Renderings(); n != 2 {
		t.Fatalf("the hub counted %d renderings, want 2", n)
	}

	renders.Store(0)
	for i := range 3 {
		if v := events[i].Rendered(context.Background(), "with errors", render("E", false)); v != "E" {
			t.Fatalf("got %v", v)
		}
	}
	if n := renders.Load(); n != 3 {
		t.Fatalf("%d renderings of an unshared answer for 3 subscribers, want 3", n)
	}

	func() {
		defer func() { _ = recover() }()
		events[0].Rendered(context.Background(), "panics", func() (any, bool) { panic("render failed") })
	}()
	done := make(chan any)
	go func() {
		done <- events[1].Rendered(context.Background(), "panics", func() (any, bool) { return "own", true })
	}()
	select {
	case v := <-done:
		if v != "own" {
			t.Fatalf("after the first rendering panicked, the next got %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a rendering that panicked left the group waiting")
	}
}
