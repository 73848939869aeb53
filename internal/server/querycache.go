package server

import (
	"context"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/vektah/gqlparser/v2/ast"
)

// Bounds of the parsed-document cache. gqlgen keys it by the query text,
// so a document is parsed and validated once, whichever client sends it
// (agents that put values in variables all send one document). A parsed
// document takes about thirty times its text in memory (measured with
// gqlparser v2.5.64: 130 bytes of text, 3 KB of tree; 23 KB, 680 KB), so
// the budget is in estimated bytes as well as in documents: a client
// sending large documents evicts others sooner rather than growing the heap.
const (
	documentCacheEntries = 1000
	documentCacheBytes   = 64 << 20
	documentBytesPerChar = 32
)

// documentCache is the parsed-document cache given to gqlgen.
type documentCache struct {
	c *boundedCache[*ast.QueryDocument]
}

func newDocumentCache() documentCache {
	return documentCache{newBoundedCache(documentCacheEntries, documentCacheBytes,
		func(query string, _ *ast.QueryDocument) int { return documentBytesPerChar * len(query) })}
}

func (d documentCache) Get(_ context.Context, query string) (*ast.QueryDocument, bool) {
	return d.c.Get(query)
}

func (d documentCache) Add(_ context.Context, query string, doc *ast.QueryDocument) {
	d.c.Add(query, doc)
}

// boundedCache is a least-recently-used cache bounded both by its number of
// entries and by their total weight (roughly bytes), safe for concurrent use.
type boundedCache[V any] struct {
	mu        sync.Mutex
	lru       *simplelru.LRU[string, V]
	weigh     func(key string, v V) int
	weight    int
	maxWeight int
}

func newBoundedCache[V any](entries, maxWeight int, weigh func(string, V) int) *boundedCache[V] {
	c := &boundedCache[V]{weigh: weigh, maxWeight: maxWeight}
	lru, err := simplelru.NewLRU(entries, func(k string, v V) { c.weight -= c.weigh(k, v) })
	if err != nil {
		panic(err) // only for a size below 1
	}
	c.lru = lru
	return c
}

func (c *boundedCache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Get(key)
}

// Add stores v under key, evicting the least recently used entries until the
// total weight fits; an entry heavier than the whole budget is not stored.
func (c *boundedCache[V]) Add(key string, v V) {
	w := c.weigh(key, v)
	if w > c.maxWeight {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key) // a replaced value leaves through the eviction callback
	c.lru.Add(key, v)
	c.weight += w
	for c.weight > c.maxWeight {
		c.lru.RemoveOldest()
	}
}
