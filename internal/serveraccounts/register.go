package serveraccounts

import (
	"context"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/activationkey"
	"clnd/ent/serveraccount"
	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/licensing"
	"clnd/internal/viewer"
)

// ErrLimitReached is the answer when an account's servers fill its limit.
var ErrLimitReached = apperr.New(apperr.LimitReached, "the server account's license limit is reached")

// Register adds a server to the account of an activation key, in tx, and
// returns it with its credential (shown once; only its hash is stored).
// The key is the credential: whoever holds it may register, so the work is
// done as clnd itself, whatever the caller. The limit check is one
// conditional UPDATE (used < limit), so concurrent registrations can never
// overfill an account.
func Register(ctx context.Context, tx *ent.Tx, keyToken, hostname, ip string, at time.Time) (*ent.Server, string, error) {
	ctx = viewer.SystemContext(ctx)
	hostname, err := licensing.CleanHostname("hostname", hostname)
	if err != nil {
		return nil, "", err
	}
	if ip != "" {
		if ip, err = licensing.CanonicalIP("ip", ip); err != nil {
			return nil, "", err
		}
	}
	key, err := tx.ActivationKey.Query().Where(activationkey.Token(strings.TrimSpace(keyToken))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", apperr.NotFoundf("no such activation key")
	}
	if err != nil {
		return nil, "", err
	}
	n, err := tx.ServerAccount.Update().
		Where(serveraccount.ID(key.ServerAccountID), func(s *sql.Selector) {
			s.Where(sql.ColumnsLT(s.C(serveraccount.FieldUsedLicenses), s.C(serveraccount.FieldLicenseLimit)))
		}).
		AddUsedLicenses(1).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	if n == 0 {
		return nil, "", ErrLimitReached
	}
	if err := tx.ActivationKey.UpdateOne(key).AddUsage(1).Exec(ctx); err != nil {
		return nil, "", err
	}
	credential, hash := auth.NewSecret(auth.CredentialPrefix)
	srv, err := tx.Server.Create().
		SetResellerID(key.ResellerID).
		SetServerAccountID(key.ServerAccountID).
		SetActivationKeyID(key.ID).
		SetHostname(hostname).
		SetIP(ip).
		SetRegisteredAt(at).
		SetCredentialHash(hash).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	return srv, credential, nil
}
