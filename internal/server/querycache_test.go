package server

import (
	"strings"
	"testing"
)

// The cache keeps to its weight budget: the least recently used entries
// leave first, a replaced entry is not counted twice, and an entry heavier
// than the whole budget is not stored.
func TestBoundedCacheWeight(t *testing.T) {
	c := newBoundedCache(100, 10, func(k, v string) int { return len(v) })
	c.Add("a", "aaaa")
	c.Add("b", "bbbb")
	c.Get("a") // b is now the least recently used
	c.Add("c", "cc")
	if c.weight != 10 {
		t.Fatalf("weight %d, want 10", c.weight)
	}
	c.Add("c", "ccc") // replaces: 4+4+3 > 10, so b leaves
	if _, ok := c.Get("b"); ok {
		t.Fatal("b should have been evicted")
	}
	if v, ok := c.Get("a"); !ok || v != "aaaa" {
		t.Fatal("a should have stayed")
	}
	if c.weight != 7 {
		t.Fatalf("weight %d after replacing c, want 7", c.weight)
	}
	c.Add("huge", strings.Repeat("x", 11))
	if _, ok := c.Get("huge"); ok || c.weight != 7 {
		t.Fatalf("an entry over the budget was stored (weight %d)", c.weight)
	}
	for i := 0; i < 1000; i++ {
		c.Add(strings.Repeat("k", i%50), "v")
	}
	if c.lru.Len() > 10 || c.weight != c.lru.Len() {
		t.Fatalf("%d entries weigh %d", c.lru.Len(), c.weight)
	}
}
