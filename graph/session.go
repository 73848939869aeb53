package graph

import (
	"context"

	"clnd/ent"
	"clnd/internal/accounts"
	"clnd/internal/viewer"
)

// signIn makes the rest of the request act as the reseller that just logged
// in or registered, and loads it for the payload.
func (r *Resolver) signIn(ctx context.Context, sess *accounts.Session) (*ent.Reseller, error) {
	viewer.SignIn(ctx, viewer.Viewer{Role: viewer.Reseller, ResellerID: sess.ResellerID, Scope: viewer.ScopeReadWrite, SessionID: sess.ID})
	return r.db(ctx).Reseller.Get(ctx, sess.ResellerID)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
