package serveraccounts

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/activationkey"
	"clnd/ent/serveraccount"
	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/events"
	"clnd/internal/licensing"
	"clnd/internal/viewer"
)

// ErrLimitReached is the answer when an account's servers fill its limit.
var ErrLimitReached = apperr.New(apperr.LimitReached, "the server account's license limit is reached")

// NewServer is a server registering with an activation key.
type NewServer struct {
	KeyToken string
	Hostname string
	// IP is the address the server names; without it, Source (the
	// request's source address) is the server's address.
	IP     string
	Source netip.Addr
	// Sandbox accepts the documentation address ranges (sandbox mode, demo data).
	Sandbox bool
	At      time.Time
}

// Register adds a server to the account of an activation key, in tx, and
// returns it with its credential (shown once; only its hash is stored).
// The key is the credential: whoever holds it may register, so the work is
// done as clnd itself, whatever the caller. The limit check is one
// conditional UPDATE (used < limit), so concurrent registrations can never
// overfill an account. The server's address follows the license address
// rules, whether named or taken from the request.
func Register(ctx context.Context, tx *ent.Tx, reg NewServer) (*ent.Server, string, error) {
	ctx = viewer.SystemContext(ctx)
	hostname, err := licensing.CleanHostname("hostname", reg.Hostname)
	if err != nil {
		return nil, "", err
	}
	ip, err := serverAddress(reg)
	if err != nil {
		return nil, "", err
	}
	key, err := tx.ActivationKey.Query().Where(activationkey.Token(strings.TrimSpace(reg.KeyToken))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", apperr.NotFoundf("no such activation key")
	}
	if err != nil {
		return nil, "", err
	}
	n, err := tx.ServerAccount.Update().
		Where(serveraccount.ID(key.ServerAccountID), serveraccount.RemovedAtIsNil(), func(s *sql.Selector) {
			s.Where(sql.ColumnsLT(s.C(serveraccount.FieldUsedLicenses), s.C(serveraccount.FieldLicenseLimit)))
		}).
		AddUsedLicenses(1).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	if n == 0 {
		// Full, or removed (with its keys) since the key was read.
		if live, err := tx.ServerAccount.Query().Where(serveraccount.ID(key.ServerAccountID)).Exist(ctx); err == nil && !live {
			return nil, "", apperr.NotFoundf("no such activation key")
		}
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
		SetRegisteredAt(reg.At).
		SetCredentialHash(hash).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	if _, err := events.Emit(ctx, tx, events.ServerRegistered, srv.ResellerID, events.ServerOf(srv)); err != nil {
		return nil, "", err
	}
	return srv, credential, nil
}

// serverAddress is the address a registering server binds: the one it names,
// or else the one its request came from.
func serverAddress(reg NewServer) (string, error) {
	if strings.TrimSpace(reg.IP) != "" {
		return licensing.ParsePublicIP("ip", reg.IP, reg.Sandbox)
	}
	source := reg.Source.Unmap().WithZone("")
	if !source.IsValid() {
		return "", apperr.Input("ip", "name the server's public address in ip")
	}
	if reason := licensing.NotPublic(source, reg.Sandbox); reason != "" {
		return "", apperr.Input("ip", "without ip, the server's address is the request's: %s, which %s; name the server's public address in ip", source, reason)
	}
	return source.String(), nil
}
