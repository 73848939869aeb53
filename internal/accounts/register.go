package accounts

import (
	"context"
	"strconv"
	"time"

	"clnd/ent"
	"clnd/ent/apitoken"
	"clnd/ent/checkout"
	"clnd/ent/idempotencyrecord"
	"clnd/ent/invoice"
	"clnd/ent/iplicense"
	"clnd/ent/paymentattempt"
	"clnd/ent/paymentmethod"
	"clnd/ent/reseller"
	"clnd/ent/serveraccount"
	"clnd/ent/session"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/idempotency"
	"clnd/internal/ledger"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Registration is a sign-up request.
type Registration struct {
	Login           string
	Password        string
	BillingEmail    string
	Company         string
	FirstName       string
	LastName        string
	InitialDeposit  money.Cents
	AcceptAgreement bool
	GatewayToken    string
}

// fingerprint is what identifies a registration for its idempotency key. The
// password is left out, so that no fast hash of it is ever stored; a replay
// checks it against the account's argon2id hash instead.
type fingerprint struct {
	Login, BillingEmail, Company, FirstName, LastName, GatewayToken string
	InitialDeposit                                                  money.Cents
}

// Session is a login: the token (shown once) and when it ends.
type Session struct {
	ID         string
	ResellerID string
	Token      string
	ExpiresAt  time.Time
}

// registered is what a registration's idempotency key replays.
type registered struct {
	ResellerID string `json:"resellerID"`
	AttemptID  string `json:"attemptID"`
}

// Register signs a reseller up in two steps. First, in a transaction of its
// own: the login is claimed, the payment method saved at the gateway, and
// the reseller, its default method and a PENDING deposit attempt committed.
// Then the deposit is charged (Settle): when the gateway took it, the DEPOSIT
// transaction and the PAYMENT_RECEIVED receipt are written and a session is
// opened; when it declined, the registration is removed again, so nothing is
// left behind and the login is free. Until the deposit is settled the
// reseller cannot log in. A retry with the same key settles the same deposit.
func (s *Service) Register(ctx context.Context, r Registration, key string) (*Session, error) {
	r, err := s.validate(r)
	if err != nil {
		return nil, err
	}
	fp := fingerprint{r.Login, r.BillingEmail, r.Company, r.FirstName, r.LastName, r.GatewayToken, r.InitialDeposit}
	// A login that is taken fails before the gateway is bothered.
	if taken, err := s.Client.Reseller.Query().Where(reseller.Login(r.Login)).Exist(viewer.SystemContext(ctx)); err != nil {
		return nil, err
	} else if taken && key == "" {
		return nil, errLoginTaken(r.Login)
	}
	// The gateway is called before any transaction, holding no lock (on a
	// replay the saved method goes unused).
	method, err := s.Gateway.Save(ctx, payments.MethodRequest{Token: r.GatewayToken, Email: r.BillingEmail, Name: r.Login})
	if err != nil {
		return nil, err
	}
	var res registered
	var replayed bool
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		res, replayed, err = idempotency.Do(ctx, tx, "anonymous", "registerReseller", key, fp, func() (registered, error) {
			return s.openRegistration(ctx, tx, r, method)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		// The first request's password must be this one's too, and a replay
		// is a password check: throttled like login.
		if err := s.throttled(ctx, r.Login); err != nil {
			return nil, err
		}
		acct, err := s.Client.Reseller.Get(viewer.SystemContext(ctx), res.ResellerID)
		if ent.IsNotFound(err) {
			// Its deposit was declined and the registration removed
			// while this retry waited for the key.
			return nil, apperr.New(apperr.PaymentFailed, "the initial deposit was declined")
		}
		if err != nil {
			return nil, err
		}
		if !auth.CheckPassword(r.Password, acct.PasswordHash) {
			if err := s.failedCheck(ctx, r.Login); err != nil {
				return nil, err
			}
			return nil, apperr.New(apperr.IdempotencyConflict, "this idempotency key was used with different input")
		}
	}
	if _, err := s.Settle(ctx, res.AttemptID); err != nil {
		return nil, err
	}
	var sess *Session
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		sess, err = s.openSession(ctx, tx, res.ResellerID)
		return err
	})
	return sess, err
}

// withTx runs fn in a transaction of its own.
func (s *Service) withTx(ctx context.Context, fn func(*ent.Tx) error) error {
	return store.InTx(ctx, s.Client, fn)
}

func (s *Service) validate(r Registration) (Registration, error) {
	var err error
	if r.Login, err = NormalizeLogin("login", r.Login); err != nil {
		return r, err
	}
	if err := checkPassword(r.Password); err != nil {
		return r, err
	}
	if r.BillingEmail, err = CheckEmail("billingEmail", r.BillingEmail); err != nil {
		return r, err
	}
	for field, v := range map[string]*string{"company": &r.Company, "firstName": &r.FirstName, "lastName": &r.LastName} {
		if *v, err = CheckName(field, *v); err != nil {
			return r, err
		}
	}
	if r.InitialDeposit < s.MinDeposit {
		return r, apperr.Input("initialDeposit", "the initial deposit is at least %s", s.MinDeposit)
	}
	if !r.AcceptAgreement {
		return r, apperr.Input("acceptAgreement", "the reseller agreement must be accepted")
	}
	if r.GatewayToken == "" {
		return r, apperr.Input("gatewayToken", "a payment method is required")
	}
	return r, nil
}

func (s *Service) openRegistration(ctx context.Context, tx *ent.Tx, r Registration, method payments.SavedMethod) (registered, error) {
	sys := viewer.SystemContext(ctx)
	taken, err := tx.Reseller.Query().Where(reseller.Login(r.Login)).Exist(sys)
	if err != nil {
		return registered{}, err
	}
	if taken {
		return registered{}, errLoginTaken(r.Login)
	}
	hash, err := auth.HashPassword(r.Password)
	if err != nil {
		return registered{}, err
	}
	acct, err := tx.Reseller.Create().
		SetLogin(r.Login).
		SetPasswordHash(hash).
		SetBillingEmail(r.BillingEmail).
		SetCompany(r.Company).
		SetFirstName(r.FirstName).
		SetLastName(r.LastName).
		SetGatewayCustomer(method.CustomerRef).
		Save(sys)
	if ent.IsConstraintError(err) {
		return registered{}, errLoginTaken(r.Login) // lost a race for the login
	}
	if err != nil {
		return registered{}, err
	}
	pm, err := tx.PaymentMethod.Create().
		SetResellerID(acct.ID).
		SetKind(paymentmethod.Kind(method.Kind)).
		SetLabel(method.Label).
		SetIsDefault(true).
		SetGateway(s.Gateway.Name()).
		SetGatewayRef(method.Ref).
		Save(sys)
	if err != nil {
		return registered{}, err
	}
	a, err := s.openAttempt(sys, tx, paymentattempt.PurposeDEPOSIT, acct, pm, r.InitialDeposit)
	if err != nil {
		return registered{}, err
	}
	return registered{ResellerID: acct.ID, AttemptID: a.ID}, nil
}

// abandonRegistration removes a registration whose deposit was declined:
// the reseller, its payment method and attempts, and the idempotency record
// that named it, so the login is free again and a retry starts anew. A
// reseller something else already refers to (an operator adjusted its
// balance meanwhile, say) stays, without a deposit, and may log in.
func abandonRegistration(ctx context.Context, tx *ent.Tx, resellerID string) error {
	ctx = viewer.SystemContext(ctx)
	if used, err := registrationInUse(ctx, tx, resellerID); err != nil || used {
		return err
	}
	if _, err := tx.PaymentAttempt.Delete().Where(paymentattempt.ResellerID(resellerID)).Exec(ctx); err != nil {
		return err
	}
	if _, err := tx.PaymentMethod.Delete().Where(paymentmethod.ResellerID(resellerID)).Exec(ctx); err != nil {
		return err
	}
	if _, err := tx.IdempotencyRecord.Delete().
		Where(
			idempotencyrecord.Owner("anonymous"),
			idempotencyrecord.Operation("registerReseller"),
			idempotencyrecord.ResponseContains(strconv.Quote(resellerID)),
		).
		Exec(ctx); err != nil {
		return err
	}
	return tx.Reseller.DeleteOneID(resellerID).Exec(ctx)
}

// registrationInUse says whether anything besides its own registration
// rows refers to a reseller.
func registrationInUse(ctx context.Context, tx *ent.Tx, id string) (bool, error) {
	for _, exists := range []func() (bool, error){
		func() (bool, error) { return tx.Transaction.Query().Where(transaction.ResellerID(id)).Exist(ctx) },
		func() (bool, error) { return tx.Session.Query().Where(session.ResellerID(id)).Exist(ctx) },
		func() (bool, error) { return tx.APIToken.Query().Where(apitoken.ResellerID(id)).Exist(ctx) },
		func() (bool, error) { return tx.IPLicense.Query().Where(iplicense.ResellerID(id)).Exist(ctx) },
		func() (bool, error) { return tx.ServerAccount.Query().Where(serveraccount.ResellerID(id)).Exist(ctx) },
		func() (bool, error) { return tx.Checkout.Query().Where(checkout.ResellerID(id)).Exist(ctx) },
		func() (bool, error) { return tx.Invoice.Query().Where(invoice.ResellerID(id)).Exist(ctx) },
	} {
		if used, err := exists(); err != nil || used {
			return used, err
		}
	}
	return false, nil
}

// pendingDeposit says whether a reseller's registration is still waiting
// for its deposit to settle (logins wait too).
func pendingDeposit(ctx context.Context, client *ent.Client, resellerID string) (bool, error) {
	return client.PaymentAttempt.Query().
		Where(
			paymentattempt.ResellerID(resellerID),
			paymentattempt.PurposeEQ(paymentattempt.PurposeDEPOSIT),
			paymentattempt.StatusIn(paymentattempt.StatusPENDING, paymentattempt.StatusREQUIRES_ACTION, paymentattempt.StatusNEEDS_REVIEW),
		).
		Exist(viewer.SystemContext(ctx))
}

func errLoginTaken(login string) error {
	return apperr.New(apperr.Conflict, "the login %q is taken", login)
}

// RecordPayment credits money a gateway took: a PAYMENT_RECEIVED invoice and
// the ledger transaction (DEPOSIT, TOP_UP or AUTOPAYMENT) that points at it.
func RecordPayment(ctx context.Context, tx *ent.Tx, resellerID string, kind transaction.Kind, amount money.Cents, description string) (*ent.Transaction, *ent.Invoice, error) {
	now := clock.Now(ctx)
	// Lock order, everywhere: the reseller's row, then the invoice sequence.
	// The row lock also makes the balance the receipt shows the one the
	// ledger moves from.
	current, err := tx.Reseller.Query().Where(reseller.ID(resellerID)).Modify(store.ForUpdate).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	number, err := billing.NextInvoiceNumber(ctx, tx, now)
	if err != nil {
		return nil, nil, err
	}
	inv, err := tx.Invoice.Create().
		SetResellerID(resellerID).
		SetNumber(number).
		SetType(invoice.TypePAYMENT_RECEIVED).
		SetTotal(amount).
		SetBalance(current.Balance + amount).
		Save(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := emitInvoice(ctx, tx, inv); err != nil {
		return nil, nil, err
	}
	txn, err := ledger.Post(ctx, tx, ledger.Entry{
		ResellerID: resellerID, Kind: kind, Amount: amount, Description: description, InvoiceID: &inv.ID,
	})
	return txn, inv, err
}
