package auth

import (
	"context"
	"time"

	"clnd/ent"
	"clnd/ent/apitoken"
	"clnd/ent/operatortoken"
	"clnd/ent/session"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// lastUsedGranularity limits lastUsedAt writes to one per token per minute:
// a busy integration should not turn every read into a write. A token
// answered from the cache is not looked up, so lastUsedAt lags real use by
// at most this plus the cache's second.
const lastUsedGranularity = time.Minute

// ErrInvalidToken is the answer for any token that does not authenticate;
// it never says whether the token existed.
var ErrInvalidToken = apperr.New(apperr.Unauthenticated, "the bearer token is invalid or expired")

// Authenticate resolves a bearer token to its viewer. A token seen in the
// last second is answered from memory without a database read (cache.go).
func Authenticate(ctx context.Context, client *ent.Client, token string) (viewer.Viewer, error) {
	now := clock.Now(ctx)
	hash := HashSecret(token)
	v, ok, generation := cached(client, hash, now)
	if ok {
		return v, nil
	}
	v, expiresAt, err := lookup(ctx, client, token, hash, now)
	if err != nil {
		return viewer.Viewer{}, err
	}
	remember(client, hash, v, expiresAt, generation)
	return v, nil
}

// lookup reads the token's row; expiresAt is when the credential ends by the
// business clock (zero for tokens that do not expire).
func lookup(ctx context.Context, client *ent.Client, token string, hash []byte, now time.Time) (v viewer.Viewer, expiresAt time.Time, err error) {
	sys := viewer.SystemContext(ctx)
	switch kindOf(token) {
	case OperatorPrefix:
		t, err := client.OperatorToken.Query().Where(operatortoken.TokenHash(hash)).Only(sys)
		if err != nil {
			return viewer.Viewer{}, time.Time{}, notFoundAsInvalid(err)
		}
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUsedGranularity {
			_ = client.OperatorToken.UpdateOne(t).SetLastUsedAt(now).Exec(sys)
		}
		return viewer.Viewer{Role: viewer.Operator, Scope: viewer.ScopeReadWrite, TokenID: t.ID}, time.Time{}, nil
	case SessionPrefix:
		s, err := client.Session.Query().Where(session.TokenHash(hash)).Only(sys)
		if err != nil {
			return viewer.Viewer{}, time.Time{}, notFoundAsInvalid(err)
		}
		if !now.Before(s.ExpiresAt) {
			return viewer.Viewer{}, time.Time{}, ErrInvalidToken
		}
		return viewer.Viewer{Role: viewer.Reseller, ResellerID: s.ResellerID, Scope: viewer.ScopeReadWrite, SessionID: s.ID}, s.ExpiresAt, nil
	case APITokenPrefix:
		t, err := client.APIToken.Query().Where(apitoken.TokenHash(hash)).Only(sys)
		if err != nil {
			return viewer.Viewer{}, time.Time{}, notFoundAsInvalid(err)
		}
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUsedGranularity {
			_ = client.APIToken.UpdateOne(t).SetLastUsedAt(now).Exec(sys)
		}
		return viewer.Viewer{Role: viewer.Reseller, ResellerID: t.ResellerID, Scope: viewer.Scope(t.Scope), TokenID: t.ID}, time.Time{}, nil
	}
	return viewer.Viewer{}, time.Time{}, ErrInvalidToken
}

func notFoundAsInvalid(err error) error {
	if ent.IsNotFound(err) {
		return ErrInvalidToken
	}
	return err
}

// CreateOperatorToken stores a new operator token and returns its secret,
// which is shown this once and never stored.
func CreateOperatorToken(ctx context.Context, client *ent.Client, name string) (string, error) {
	if name == "" {
		return "", apperr.Input("name", "a token needs a name")
	}
	token, hash := NewSecret(OperatorPrefix)
	err := client.OperatorToken.Create().SetName(name).SetTokenHash(hash).Exec(viewer.SystemContext(ctx))
	if err != nil {
		return "", err
	}
	return token, nil
}

// Recheck tells whether the credential a viewer was authenticated with still
// holds: the session not ended or expired, the API or operator token not
// revoked. Long-lived connections (websockets, subscriptions) call it, so
// that logging out or revoking a token ends their access too.
func Recheck(ctx context.Context, client *ent.Client, v viewer.Viewer) error {
	sys := viewer.SystemContext(ctx)
	var err error
	switch {
	case v.Role == viewer.Operator:
		_, err = client.OperatorToken.Get(sys, v.TokenID)
	case v.Role == viewer.Reseller && v.SessionID != "":
		var s *ent.Session
		if s, err = client.Session.Get(sys, v.SessionID); err == nil && !clock.Now(ctx).Before(s.ExpiresAt) {
			return ErrInvalidToken
		}
	case v.Role == viewer.Reseller && v.TokenID != "":
		_, err = client.APIToken.Get(sys, v.TokenID)
	default:
		return nil // anonymous: nothing to lose
	}
	return notFoundAsInvalid(err)
}
