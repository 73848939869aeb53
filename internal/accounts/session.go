package accounts

import (
	"context"
	"net/netip"

	"clnd/ent"
	"clnd/ent/loginfailure"
	"clnd/ent/reseller"
	"clnd/ent/session"
	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/clock"
	"clnd/internal/reqinfo"
	"clnd/internal/viewer"
)

// ErrBadCredentials never says which of login and password was wrong.
var ErrBadCredentials = apperr.New(apperr.Unauthenticated, "wrong login or password")

// ErrTooManyFailures is the answer while a login or address is rate-limited.
var ErrTooManyFailures = apperr.New(apperr.RateLimited, "too many failed logins; try again later")

// openSession stores a new session for the reseller (its token's hash only).
func (s *Service) openSession(ctx context.Context, tx *ent.Tx, resellerID string) (*Session, error) {
	token, hash := auth.NewSecret(auth.SessionPrefix)
	expires := clock.Now(ctx).Add(s.SessionTTL)
	sess, err := tx.Session.Create().
		SetResellerID(resellerID).
		SetTokenHash(hash).
		SetExpiresAt(expires).
		Save(viewer.SystemContext(ctx))
	if err != nil {
		return nil, err
	}
	return &Session{ID: sess.ID, ResellerID: resellerID, Token: token, ExpiresAt: expires}, nil
}

// Login checks a login and password and opens a session. It runs outside
// the request's transaction: a failed attempt must be recorded even though
// the mutation answers with an error, or rate limiting would count nothing.
//
// Every attempt is recorded before the password is checked and counted
// after, so parallel guesses cannot all slip under the limit between a count
// and a record; a successful login clears its login's record.
func (s *Service) Login(ctx context.Context, client *ent.Client, login, password string, from netip.Addr) (*Session, error) {
	sys := viewer.SystemContext(ctx)
	login, err := NormalizeLogin("login", login)
	if err != nil {
		return nil, err
	}
	address := ""
	if from.IsValid() {
		address = from.String()
	}
	if err := client.LoginFailure.Create().SetLogin(login).SetAddress(address).Exec(sys); err != nil {
		return nil, err
	}
	if err := s.checkRate(sys, client, login, address); err != nil {
		return nil, err
	}
	acct, err := client.Reseller.Query().Where(reseller.Login(login)).Only(sys)
	switch {
	case ent.IsNotFound(err):
		auth.BurnPasswordCheck(password) // as slow as a wrong password
		return nil, ErrBadCredentials
	case err != nil:
		return nil, err
	case !auth.CheckPassword(password, acct.PasswordHash):
		return nil, ErrBadCredentials
	}
	if _, err := client.LoginFailure.Delete().Where(loginfailure.Login(login)).Exec(sys); err != nil {
		return nil, err
	}
	// A registration whose deposit is still being settled is not an account
	// yet: if the deposit is declined it goes away.
	if waiting, err := pendingDeposit(ctx, client, acct.ID); err != nil {
		return nil, err
	} else if waiting {
		return nil, apperr.New(apperr.Unavailable, "the account's initial deposit is still being confirmed; try again in a minute")
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := s.openSession(ctx, tx, acct.ID)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return sess, tx.Commit()
}

// throttled refuses a password check for a login (or from the request's
// address) past login's limits.
func (s *Service) throttled(ctx context.Context, login string) error {
	return s.checkRate(viewer.SystemContext(ctx), s.Client, login, requestAddress(ctx))
}

// failedCheck counts a wrong password against the login and the address.
func (s *Service) failedCheck(ctx context.Context, login string) error {
	return s.Client.LoginFailure.Create().SetLogin(login).SetAddress(requestAddress(ctx)).Exec(viewer.SystemContext(ctx))
}

func requestAddress(ctx context.Context) string {
	if from := reqinfo.FromContext(ctx).ClientAddr; from.IsValid() {
		return from.String()
	}
	return ""
}

// checkRate counts the attempts recorded within the window, this one
// included: more than LoginFailures for the login (or four times that from
// the address) is RATE_LIMITED.
func (s *Service) checkRate(ctx context.Context, client *ent.Client, login, address string) error {
	since := clock.Now(ctx).Add(-s.LoginWindow)
	byLogin, err := client.LoginFailure.Query().
		Where(loginfailure.Login(login), loginfailure.CreatedAtGT(since)).
		Count(ctx)
	if err != nil {
		return err
	}
	if byLogin > s.LoginFailures {
		return ErrTooManyFailures
	}
	if address == "" {
		return nil
	}
	byAddress, err := client.LoginFailure.Query().
		Where(loginfailure.Address(address), loginfailure.CreatedAtGT(since)).
		Count(ctx)
	if err != nil {
		return err
	}
	if byAddress > 4*s.LoginFailures {
		return ErrTooManyFailures
	}
	return nil
}

// Logout ends the calling session.
func Logout(ctx context.Context, tx *ent.Tx) error {
	v := viewer.FromContext(ctx)
	if v.SessionID == "" {
		return apperr.New(apperr.Forbidden, "logout ends a login session; API tokens are revoked with revokeAPIToken")
	}
	auth.ForgetOnCommit(tx, v.SessionID)
	return tx.Session.DeleteOneID(v.SessionID).Where(session.ResellerID(v.ResellerID)).Exec(viewer.SystemContext(ctx))
}
