package accounts

import (
	"context"
	"strings"
	"unicode/utf8"

	"clnd/ent"
	"clnd/ent/apitoken"
	"clnd/ent/reseller"
	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// MaxAPITokens bounds one reseller's tokens.
const MaxAPITokens = 50

// ErrSessionOnly keeps token management to logged-in people: a partner's API
// token cannot mint or revoke tokens.
var ErrSessionOnly = apperr.New(apperr.Forbidden, "API tokens are managed from a login session, not with an API token")

// CreateAPIToken makes a token for the calling reseller and returns its
// secret, which is shown only now.
func CreateAPIToken(ctx context.Context, tx *ent.Tx, name string, scope apitoken.Scope) (*ent.APIToken, string, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller || v.SessionID == "" {
		return nil, "", ErrSessionOnly
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return nil, "", apperr.Input("name", "a token name is 1 to 100 characters")
	}
	if err := apitoken.ScopeValidator(scope); err != nil {
		return nil, "", apperr.Input("scope", "scope is READ or READ_WRITE")
	}
	// The reseller's row lock makes count-then-insert safe against a
	// concurrent create.
	if _, err := tx.Reseller.Query().Where(reseller.ID(v.ResellerID)).Modify(store.ForUpdate).Only(ctx); err != nil {
		return nil, "", err
	}
	count, err := tx.APIToken.Query().Count(ctx)
	if err != nil {
		return nil, "", err
	}
	if count >= MaxAPITokens {
		return nil, "", apperr.New(apperr.LimitReached, "a reseller has at most %d API tokens; revoke one first", MaxAPITokens)
	}
	secret, hash := auth.NewSecret(auth.APITokenPrefix)
	t, err := tx.APIToken.Create().
		SetResellerID(v.ResellerID).
		SetName(name).
		SetScope(scope).
		SetTokenHash(hash).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// RevokeAPIToken deletes one of the caller's tokens; another tenant's token
// is NOT_FOUND, like one that does not exist. A READ_WRITE token may revoke
// tokens (a partner rotating its credentials), though only a session makes them.
func RevokeAPIToken(ctx context.Context, tx *ent.Tx, id string) error {
	auth.ForgetOnCommit(tx, id)
	err := tx.APIToken.DeleteOneID(id).Exec(ctx)
	if ent.IsNotFound(err) {
		return apperr.NotFoundf("no API token with ID %q", id)
	}
	return err
}
