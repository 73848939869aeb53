package paypal

import (
	"sync"

	"golang.org/x/oauth2"
)

// renewableSource is x/oauth2's caching token source (one token, renewed
// before it expires) that can also be told to drop its token: PayPal may
// refuse a token before its expiry (credentials rotated, token revoked),
// and without a fresh one every call would fail until the expiry hours later.
type renewableSource struct {
	fresh func() oauth2.TokenSource
	mu    sync.Mutex
	cur   oauth2.TokenSource
}

func newRenewableSource(fresh func() oauth2.TokenSource) *renewableSource {
	return &renewableSource{fresh: fresh, cur: fresh()}
}

// Token implements oauth2.TokenSource.
func (s *renewableSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	return cur.Token()
}

// drop makes the next call fetch a new token.
func (s *renewableSource) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = s.fresh()
}
