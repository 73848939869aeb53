package accounts

import (
	"context"
	"fmt"
	"time"

	"clnd/ent"
	"clnd/ent/invoice"
	"clnd/ent/paymentmethod"
	"clnd/ent/reseller"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/idempotency"
	"clnd/internal/ids"
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

type registered struct {
	ResellerID string `json:"resellerID"`
}

// Register signs a reseller up, in tx: the deposit is charged first, and
// only when the gateway took it are the reseller, its default payment
// method, the DEPOSIT transaction and the PAYMENT_RECEIVED invoice written.
// A declined charge writes nothing. If anything after the charge fails, the
// transaction rolls back and the charge is refunded.
func (s *Service) Register(ctx context.Context, tx *ent.Tx, r Registration, key string) (*Session, error) {
	r, err := s.validate(r)
	if err != nil {
		return nil, err
	}
	fp := fingerprint{r.Login, r.BillingEmail, r.Company, r.FirstName, r.LastName, r.GatewayToken, r.InitialDeposit}
	res, replayed, err := idempotency.Do(ctx, tx, "anonymous", "registerReseller", key, fp, func() (registered, error) {
		id, err := s.createReseller(ctx, tx, r, key)
		return registered{ResellerID: id}, err
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		// The first request's password must be this one's too.
		acct, err := tx.Reseller.Get(viewer.SystemContext(ctx), res.ResellerID)
		if err != nil {
			return nil, err
		}
		if !auth.CheckPassword(r.Password, acct.PasswordHash) {
			return nil, apperr.New(apperr.IdempotencyConflict, "this idempotency key was used with different input")
		}
	}
	return s.openSession(ctx, tx, res.ResellerID)
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

func (s *Service) createReseller(ctx context.Context, tx *ent.Tx, r Registration, key string) (string, error) {
	sys := viewer.SystemContext(ctx)
	taken, err := tx.Reseller.Query().Where(reseller.Login(r.Login)).Exist(sys)
	if err != nil {
		return "", err
	}
	if taken {
		return "", errLoginTaken(r.Login)
	}
	method, err := s.Gateway.Save(ctx, payments.MethodRequest{Token: r.GatewayToken, Email: r.BillingEmail, Name: r.Login})
	if err != nil {
		return "", err
	}
	// A fresh key per attempt: a retry after a refunded attempt must be a new
	// charge at the gateway, not a replay of the refunded one.
	charge, err := s.Gateway.Charge(ctx, payments.ChargeRequest{Key: ids.New("chg"), MethodRef: method.Ref, Amount: r.InitialDeposit})
	if err != nil {
		return "", err
	}
	refundUnlessCommitted(tx, s.Gateway, charge)

	hash, err := auth.HashPassword(r.Password)
	if err != nil {
		return "", err
	}
	acct, err := tx.Reseller.Create().
		SetLogin(r.Login).
		SetPasswordHash(hash).
		SetBillingEmail(r.BillingEmail).
		SetCompany(r.Company).
		SetFirstName(r.FirstName).
		SetLastName(r.LastName).
		Save(sys)
	if ent.IsConstraintError(err) {
		return "", errLoginTaken(r.Login) // lost a race for the login
	}
	if err != nil {
		return "", err
	}
	if err := tx.PaymentMethod.Create().
		SetResellerID(acct.ID).
		SetKind(paymentmethod.Kind(method.Kind)).
		SetLabel(method.Label).
		SetIsDefault(true).
		SetGateway(s.Gateway.Name()).
		SetGatewayRef(method.Ref).
		Exec(sys); err != nil {
		return "", err
	}
	if _, _, err := RecordPayment(sys, tx, acct.ID, transaction.KindDEPOSIT, charge.Amount,
		fmt.Sprintf("Initial deposit (%s)", method.Label)); err != nil {
		return "", err
	}
	return acct.ID, nil
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
	txn, err := ledger.Post(ctx, tx, ledger.Entry{
		ResellerID: resellerID, Kind: kind, Amount: amount, Description: description, InvoiceID: &inv.ID,
	})
	return txn, inv, err
}

// refundUnlessCommitted gives a charge back if the transaction that records
// it rolls back or fails to commit, so money is never kept for something that
// was not saved. A refund that fails is returned as the rollback's or
// commit's error, which the caller logs.
func refundUnlessCommitted(tx *ent.Tx, g payments.Gateway, charge payments.Charge) {
	refund := func(ctx context.Context, cause error) error {
		if _, err := g.Refund(context.WithoutCancel(ctx), payments.RefundRequest{Key: "re-" + charge.ID, ChargeID: charge.ID, Amount: charge.Amount}); err != nil {
			return fmt.Errorf("refunding charge %s (%v): %w", charge.ID, cause, err)
		}
		return cause
	}
	tx.OnRollback(func(next ent.Rollbacker) ent.Rollbacker {
		return ent.RollbackFunc(func(ctx context.Context, tx *ent.Tx) error {
			return refund(ctx, next.Rollback(ctx, tx))
		})
	})
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return refund(ctx, err)
			}
			return nil
		})
	})
}
