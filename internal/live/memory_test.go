package live_test

import (
	"runtime"
	"testing"

	"clnd/internal/live"
)

// A subscriber's buffer holds pointers to the published events, which every
// subscriber shares: thousands of idle dashboards cost little memory, and
// little for the collector to scan. (A buffer of whole events was 38 KiB
// per subscriber: 190 MB, half the heap, at 5,000 subscribers.)
func TestIdleSubscribersCostLittleMemory(t *testing.T) {
	const n = 2000
	h := live.NewHub()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	subs := make([]*live.Subscription, n)
	for i := range subs {
		subs[i] = h.Subscribe(live.Filter{ResellerID: "r1"})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSubscriber := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	if limit := int64(4 << 10); perSubscriber > limit {
		t.Errorf("an idle subscriber holds %d bytes of heap, want at most %d", perSubscriber, limit)
	}
	// Every subscriber receives the same event, not a copy of it.
	h.Publish([]live.Event{{ResellerID: "r1", IP: "203.0.113.10"}})
	first := <-subs[0].Events()
	for _, s := range subs[1:] {
		if e := <-s.Events(); e != first {
			t.Fatalf("a subscriber received its own copy of the event")
		}
	}
	runtime.KeepAlive(subs)
}
