package auth

import (
	"context"
	"sync"
	"time"

	"clnd/ent"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// A token that authenticated is remembered for cacheTTL of wall time (the
// sandbox clock may stand still), so a client sending many requests costs
// one token lookup per second instead of one per request. The price: a
// token revoked or a session ended on another instance keeps working on
// this one for at most cacheTTL. On the instance that revokes it, it stops
// at once (forgetOnCommit). Only successes are remembered, so random tokens
// cannot fill the cache; cacheMaxEntries bounds it anyway.
const (
	cacheTTL        = time.Second
	cacheMaxEntries = 10_000
)

type cacheKey struct {
	client *ent.Client // one process may serve several databases (tests do)
	hash   string
}

type cacheEntry struct {
	viewer    viewer.Viewer
	until     time.Time // wall time
	expiresAt time.Time // business time the credential itself expires (sessions); zero: never
}

// tokenCache is process-wide: both ways in (HTTP header, websocket
// connection_init) and every server sharing a client use it.
var tokenCache = struct {
	sync.Mutex
	entries map[cacheKey]cacheEntry
	// generation counts forgets: a lookup that read the database before a
	// revocation committed must not put the revoked token back afterwards.
	generation uint64
}{entries: make(map[cacheKey]cacheEntry)}

// cached returns the viewer remembered for the token, if it is still fresh
// and the credential has not expired by the business clock; on a miss, the
// generation to hand to remember.
func cached(client *ent.Client, hash []byte, now time.Time) (v viewer.Viewer, hit bool, generation uint64) {
	key := cacheKey{client, string(hash)}
	tokenCache.Lock()
	defer tokenCache.Unlock()
	e, ok := tokenCache.entries[key]
	if !ok {
		return viewer.Viewer{}, false, tokenCache.generation
	}
	if !clock.Wall().Before(e.until) || (!e.expiresAt.IsZero() && !now.Before(e.expiresAt)) {
		delete(tokenCache.entries, key)
		return viewer.Viewer{}, false, tokenCache.generation
	}
	return e.viewer, true, 0
}

// remember stores what the database said about a token, unless a credential
// was revoked on this instance since the lookup began (generation moved on).
func remember(client *ent.Client, hash []byte, v viewer.Viewer, expiresAt time.Time, generation uint64) {
	wall := clock.Wall()
	tokenCache.Lock()
	defer tokenCache.Unlock()
	if tokenCache.generation != generation {
		return
	}
	if len(tokenCache.entries) >= cacheMaxEntries {
		for k, e := range tokenCache.entries {
			if !wall.Before(e.until) {
				delete(tokenCache.entries, k)
			}
		}
		// Still full of fresh entries: drop arbitrary ones (map order is
		// random); they are only a second's worth of saved lookups.
		for k := range tokenCache.entries {
			if len(tokenCache.entries) < cacheMaxEntries {
				break
			}
			delete(tokenCache.entries, k)
		}
	}
	tokenCache.entries[cacheKey{client, string(hash)}] = cacheEntry{viewer: v, until: wall.Add(cacheTTL), expiresAt: expiresAt}
}

// forget drops every cached token that resolved to the session or token id.
func forget(id string) {
	tokenCache.Lock()
	defer tokenCache.Unlock()
	tokenCache.generation++
	for k, e := range tokenCache.entries {
		if e.viewer.SessionID == id || e.viewer.TokenID == id {
			delete(tokenCache.entries, k)
		}
	}
}

// ForgetOnCommit makes this instance stop accepting the session or token id
// as soon as tx, which deletes it, commits (other instances stop within
// cacheTTL).
func ForgetOnCommit(tx *ent.Tx, id string) {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				forget(id)
			}
			return err
		})
	})
}
