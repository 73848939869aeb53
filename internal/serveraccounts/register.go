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
)

// ErrLimitReached is the answer when an account's servers fill its limit.
var ErrLimitReached = apperr.New(apperr.LimitReached, "the server account's license limit is reached")

// Register adds a server to the account of an activation key, in tx, and
// returns it with its credential (shown once; only its hash is stored).
// The limit check is one conditional UPDATE (used < limit), so concurrent
// registrations can never overfill an account.
func Register(ctx context.Context, tx *ent.Tx, keyToken, hostname, ip string, at time.Time) (*ent.Server, string, error) {
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
		SetHostname(strings.TrimSpace(hostname)).
		SetIP(strings.TrimSpace(ip)).
		SetRegisteredAt(at).
		SetCredentialHash(hash).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	return srv, credential, nil
}
