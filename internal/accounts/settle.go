package accounts

import (
	"context"
	"fmt"
	"time"

	"clnd/ent"
	"clnd/ent/checkout"
	"clnd/ent/paymentattempt"
	"clnd/ent/reseller"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/failpoint"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// How money moves, in three steps (docs/schema.md, "Payment attempts"):
//
//  1. A PENDING PaymentAttempt is committed, in the transaction of whatever
//     makes the payment due (a top-up, a registration, a debit that makes an
//     autopayment due, a returning checkout, a refund).
//  2. The provider is called outside any transaction, holding no lock, with
//     the attempt's ID as its idempotency key.
//  3. The answer is recorded in a second transaction: the attempt's status
//     moves out of PENDING with a conditional update, and only the update
//     that wins writes the ledger entry and the receipt.
//
// A crash or a timeout between 2 and 3 leaves the attempt PENDING; Settle,
// called again by a retry of the request or by the reconciler, asks the
// provider again with the same key, so the money is recorded exactly once.

// settleRetry is how long after a failed provider call the reconciler asks
// again: doubling from a minute, at most an hour.
func settleRetry(tries int) time.Duration {
	d := time.Minute << min(tries, 6)
	return min(d, time.Hour)
}

// GiveUpAfter is how long the reconciler keeps asking a provider that does
// not answer about a PENDING attempt. Stripe keeps idempotency keys for 24
// hours, so after that asking again could charge twice; the attempt is then
// NEEDS_REVIEW (the money may or may not have moved) and an operator checks
// the provider's dashboard (docs/operations.md).
const GiveUpAfter = 23 * time.Hour

// Settle asks the provider about a PENDING attempt with its own key and
// records the answer, and answers the attempt as it then stands together
// with the error a client should see: nil when the money moved,
// PAYMENT_FAILED for a decline or a payer action (3-D Secure, approval),
// UNAVAILABLE when the provider could not be reached. A settled attempt is
// answered as it is, without asking anyone.
func (s *Service) Settle(ctx context.Context, id string) (*ent.PaymentAttempt, error) {
	ctx = viewer.SystemContext(ctx)
	a, err := s.Client.PaymentAttempt.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Status == paymentattempt.StatusREQUIRES_ACTION && a.Purpose != paymentattempt.PurposeCHECKOUT {
		return s.stillWaiting(ctx, a)
	}
	if a.Status != paymentattempt.StatusPENDING {
		return a, attemptError(a, nil)
	}
	ref, amount, callErr := s.call(ctx, a)
	failpoint.Hit(failpoint.AfterGateway, string(a.Purpose))
	failure, definite := payments.AsFailure(callErr)
	switch {
	case callErr == nil:
		a, err = s.recordSuccess(ctx, a, ref, amount)
	case definite:
		a, err = s.recordFailure(ctx, a, failure)
	default:
		a, err = s.recordUnknown(ctx, a, callErr)
	}
	if err != nil {
		return a, err
	}
	return a, attemptError(a, failure)
}

// stillWaiting answers a retry of a payment that waits for the payer (3-D
// Secure): the provider is asked again with the same key, which answers the
// same challenge (and its client secret, which clnd does not store) or, if
// the payer has finished meanwhile, the payment, which is then recorded.
func (s *Service) stillWaiting(ctx context.Context, a *ent.PaymentAttempt) (*ent.PaymentAttempt, error) {
	ref, _, err := s.call(ctx, a)
	if err == nil {
		after, err := s.ProviderSucceeded(ctx, a, ref)
		if err != nil {
			return after, err
		}
		return after, attemptError(after, nil)
	}
	f, _ := payments.AsFailure(err)
	return a, attemptError(a, f)
}

// attemptError is what a client is told about an attempt's state.
func attemptError(a *ent.PaymentAttempt, f *payments.Failure) error {
	ext := map[string]any{"paymentAttemptID": a.ID}
	if a.DeclineCode != "" {
		ext["declineCode"] = a.DeclineCode
	}
	switch a.Status {
	case paymentattempt.StatusSUCCEEDED:
		return nil
	case paymentattempt.StatusREQUIRES_ACTION:
		e := apperr.New(apperr.PaymentFailed, "the payment needs the payer's action (%s)", a.Reason)
		if f != nil && f.ClientSecret != "" {
			// Stripe.js confirms the PaymentIntent with it (3-D Secure).
			ext["clientSecret"] = f.ClientSecret
		}
		ext["requiresAction"] = true
		e.Extensions = ext
		return e
	case paymentattempt.StatusNEEDS_REVIEW:
		e := apperr.New(apperr.Unavailable, "the payment provider never answered; an operator is checking whether the payment went through")
		e.Extensions = ext
		return e
	case paymentattempt.StatusDECLINED:
		what := "payment"
		if a.Purpose == paymentattempt.PurposeREFUND {
			what = "refund"
		}
		e := apperr.New(apperr.PaymentFailed, "the %s was declined (%s)", what, a.Reason)
		e.Extensions = ext
		return e
	}
	e := apperr.New(apperr.Unavailable, "the payment provider did not answer; the payment is pending and will be settled: retry with the same idempotency key to see the outcome")
	e.Extensions = ext
	return e
}

// call asks the attempt's provider, with the attempt's ID as the key.
func (s *Service) call(ctx context.Context, a *ent.PaymentAttempt) (ref string, amount money.Cents, err error) {
	switch a.Purpose {
	case paymentattempt.PurposeCHECKOUT:
		p, err := s.checkoutProvider(a.Gateway)
		if err != nil {
			return "", 0, err
		}
		c, err := s.Client.Checkout.Get(ctx, *a.CheckoutID)
		if err != nil {
			return "", 0, err
		}
		charge, err := p.Capture(ctx, c.ProviderRef, a.ID)
		return charge.ID, charge.Amount, err
	case paymentattempt.PurposeREFUND:
		refunder, err := s.refunder(ctx, a)
		if err != nil {
			return "", 0, err
		}
		r, err := refunder.Refund(ctx, payments.RefundRequest{Key: a.ID, ChargeID: a.ChargeRef, Amount: a.Amount, Reason: a.Reason})
		return r.ID, r.Amount, err
	}
	g, err := s.cardGateway(a.Gateway)
	if err != nil {
		return "", 0, err
	}
	charge, err := g.Charge(ctx, payments.ChargeRequest{
		Key: a.ID, MethodRef: a.MethodRef, CustomerRef: a.CustomerRef, Amount: a.Amount,
		Description: chargeDescription(a), ResellerID: a.ResellerID,
	})
	return charge.ID, charge.Amount, err
}

func chargeDescription(a *ent.PaymentAttempt) string {
	switch a.Purpose {
	case paymentattempt.PurposeDEPOSIT:
		return "clnd initial deposit"
	case paymentattempt.PurposeAUTOPAYMENT:
		return "clnd autopayment"
	}
	return "clnd top-up"
}

func (s *Service) cardGateway(name string) (payments.Gateway, error) {
	if s.Gateway == nil || s.Gateway.Name() != name {
		return nil, fmt.Errorf("the card gateway %q is not configured on this instance", name)
	}
	return s.Gateway, nil
}

func (s *Service) checkoutProvider(name string) (payments.CheckoutProvider, error) {
	if s.Checkout == nil || s.Checkout.Name() != name {
		return nil, fmt.Errorf("the checkout provider %q is not configured on this instance", name)
	}
	return s.Checkout, nil
}

// refunder is the provider that took the money a REFUND attempt gives back.
func (s *Service) refunder(ctx context.Context, a *ent.PaymentAttempt) (interface {
	Refund(context.Context, payments.RefundRequest) (payments.Refund, error)
}, error) {
	paid, err := s.Client.PaymentAttempt.Query().
		Where(paymentattempt.TransactionID(*a.RefundOfID), paymentattempt.PurposeNEQ(paymentattempt.PurposeREFUND)).
		Only(ctx)
	if err != nil {
		return nil, err
	}
	if paid.Purpose == paymentattempt.PurposeCHECKOUT {
		return s.checkoutProvider(a.Gateway)
	}
	return s.cardGateway(a.Gateway)
}

// settling claims a PENDING (or waiting) attempt for recording its outcome:
// the conditional update lets exactly one of any concurrent settlers on
// any instance write what follows.
func settling(ctx context.Context, tx *ent.Tx, a *ent.PaymentAttempt, status paymentattempt.Status, from ...paymentattempt.Status) *ent.PaymentAttemptUpdate {
	if len(from) == 0 {
		from = []paymentattempt.Status{paymentattempt.StatusPENDING}
	}
	return tx.PaymentAttempt.Update().
		Where(paymentattempt.ID(a.ID), paymentattempt.StatusIn(from...)).
		SetStatus(status).
		SetSettledAt(clock.Now(ctx))
}

func (s *Service) recordSuccess(ctx context.Context, a *ent.PaymentAttempt, ref string, _ money.Cents) (*ent.PaymentAttempt, error) {
	return s.inTx(ctx, a.ID, func(tx *ent.Tx) error {
		return recordSuccessTx(ctx, tx, a, ref, paymentattempt.StatusPENDING)
	})
}

// recordSuccessTx credits (or, for a refund, debits) the money an attempt
// moved, once: if the attempt is no longer in one of the from states,
// someone else recorded it and nothing is written.
func recordSuccessTx(ctx context.Context, tx *ent.Tx, a *ent.PaymentAttempt, ref string, from ...paymentattempt.Status) error {
	if a.Purpose == paymentattempt.PurposeCHECKOUT {
		// The checkout's row first, as CaptureCheckout takes it, so the two
		// never wait for each other in opposite orders.
		if _, err := tx.Checkout.Query().Where(checkout.ID(*a.CheckoutID)).Modify(store.ForUpdate).Only(ctx); err != nil {
			return err
		}
	}
	upd := settling(ctx, tx, a, paymentattempt.StatusSUCCEEDED, from...)
	if a.Purpose != paymentattempt.PurposeREFUND {
		upd.SetReason("") // a refund keeps the operator's reason
	}
	n, err := upd.SetGatewayRef(ref).Save(ctx)
	if err != nil || n == 0 {
		return err
	}
	var txn *ent.Transaction
	switch a.Purpose {
	case paymentattempt.PurposeREFUND:
		txn, err = recordRefund(ctx, tx, a)
	case paymentattempt.PurposeCHECKOUT:
		txn, err = recordCheckout(ctx, tx, a)
	default:
		kind := map[paymentattempt.Purpose]transaction.Kind{
			paymentattempt.PurposeDEPOSIT:     transaction.KindDEPOSIT,
			paymentattempt.PurposeTOP_UP:      transaction.KindTOP_UP,
			paymentattempt.PurposeAUTOPAYMENT: transaction.KindAUTOPAYMENT,
		}[a.Purpose]
		label := map[paymentattempt.Purpose]string{
			paymentattempt.PurposeDEPOSIT:     "Initial deposit",
			paymentattempt.PurposeTOP_UP:      "Top-up",
			paymentattempt.PurposeAUTOPAYMENT: "Autopayment",
		}[a.Purpose]
		txn, _, err = RecordPayment(ctx, tx, a.ResellerID, kind, a.Amount, fmt.Sprintf("%s (%s)", label, a.MethodLabel))
	}
	if err != nil {
		return err
	}
	if err := tx.PaymentAttempt.UpdateOneID(a.ID).SetTransactionID(txn.ID).Exec(ctx); err != nil {
		return err
	}
	if err := emitOutcome(ctx, tx, a.ID); err != nil {
		return err
	}
	return standingAfter(ctx, tx, a.ResellerID)
}

func recordCheckout(ctx context.Context, tx *ent.Tx, a *ent.PaymentAttempt) (*ent.Transaction, error) {
	c, err := tx.Checkout.Get(ctx, *a.CheckoutID)
	if err != nil {
		return nil, err
	}
	// A checkout's money is recorded once, whichever attempt captured it.
	// One canceled or expired while its capture was in flight was paid all
	// the same.
	n, err := tx.Checkout.Update().
		Where(checkout.ID(c.ID), checkout.StatusNEQ(checkout.StatusCOMPLETED)).
		SetStatus(checkout.StatusCOMPLETED).
		SetCompletedAt(clock.Now(ctx)).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return tx.Transaction.Get(ctx, *c.TransactionID)
	}
	txn, _, err := RecordPayment(ctx, tx, a.ResellerID, transaction.KindTOP_UP, a.Amount, fmt.Sprintf("Top-up by %s checkout", c.Provider))
	if err != nil {
		return nil, err
	}
	return txn, tx.Checkout.UpdateOneID(c.ID).SetTransactionID(txn.ID).Exec(ctx)
}

func (s *Service) recordFailure(ctx context.Context, a *ent.PaymentAttempt, f *payments.Failure) (*ent.PaymentAttempt, error) {
	status := paymentattempt.StatusDECLINED
	// A deposit cannot wait for the payer (the registration is answered
	// now), nor can an autopayment (off-session: the payer is not there;
	// the reseller is past due until it pays on-session).
	if f.Outcome == payments.ActionRequired && a.Purpose != paymentattempt.PurposeDEPOSIT && a.Purpose != paymentattempt.PurposeAUTOPAYMENT {
		status = paymentattempt.StatusREQUIRES_ACTION
	}
	reason := f.Code
	if f.Message != "" && f.Message != f.Code {
		reason = f.Code + ": " + f.Message
	}
	after, err := s.inTx(ctx, a.ID, func(tx *ent.Tx) error {
		upd := settling(ctx, tx, a, status)
		n, err := upd.SetReason(reason).SetDeclineCode(f.Code).SetGatewayRef(f.Ref).Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		if status == paymentattempt.StatusDECLINED {
			return declinedTx(ctx, tx, a)
		}
		return nil
	})
	if ent.IsNotFound(err) {
		// A declined deposit took its registration, attempt and all, with it.
		gone := *a
		gone.Status, gone.Reason, gone.DeclineCode = paymentattempt.StatusDECLINED, reason, f.Code
		return &gone, nil
	}
	return after, err
}

// declinedTx is what a decline leaves behind besides the attempt.
func declinedTx(ctx context.Context, tx *ent.Tx, a *ent.PaymentAttempt) error {
	if err := emitDeclined(ctx, tx, a); err != nil {
		return err
	}
	switch a.Purpose {
	case paymentattempt.PurposeDEPOSIT:
		return abandonRegistration(ctx, tx, a.ResellerID)
	case paymentattempt.PurposeCHECKOUT:
		return tx.Checkout.Update().
			Where(checkout.ID(*a.CheckoutID), checkout.StatusEQ(checkout.StatusPENDING)).
			SetStatus(checkout.StatusFAILED).
			Exec(ctx)
	case paymentattempt.PurposeAUTOPAYMENT:
		return standingAfter(ctx, tx, a.ResellerID)
	}
	return nil
}

// recordUnknown keeps the attempt PENDING after a provider call whose outcome
// is unknown, and tells the reconciler when to ask again. Past GiveUpAfter
// it is DECLINED with the last error.
func (s *Service) recordUnknown(ctx context.Context, a *ent.PaymentAttempt, cause error) (*ent.PaymentAttempt, error) {
	// The cause stays in the log: it may name hosts and internals a
	// reseller reading the attempt should not see.
	reason := "the payment provider did not answer; clnd asks again later"
	if a.OpenedAt != nil && clock.Wall().Sub(*a.OpenedAt) > GiveUpAfter {
		s.logger().Error("payment provider never answered; the attempt needs review", "attempt", a.ID, "purpose", a.Purpose, "err", cause)
		return s.inTx(ctx, a.ID, func(tx *ent.Tx) error {
			n, err := settling(ctx, tx, a, paymentattempt.StatusNEEDS_REVIEW).
				SetReason("the payment provider never answered within a day; an operator checks whether it went through").
				Save(ctx)
			if err != nil || n == 0 || a.Purpose != paymentattempt.PurposeAUTOPAYMENT {
				return err
			}
			return standingAfter(ctx, tx, a.ResellerID) // no longer counted as paid
		})
	}
	_, err := s.Client.PaymentAttempt.Update().
		Where(paymentattempt.ID(a.ID), paymentattempt.StatusEQ(paymentattempt.StatusPENDING)).
		SetReason(reason).
		AddTries(1).
		SetNextTryAt(clock.Wall().Add(settleRetry(a.Tries))).
		Save(ctx)
	if err != nil {
		return a, err
	}
	s.logger().Warn("payment provider call failed; the attempt stays pending", "attempt", a.ID, "purpose", a.Purpose, "err", cause)
	return s.Client.PaymentAttempt.Get(ctx, a.ID)
}

// inTx runs fn in a transaction and answers the attempt as it stands after.
func (s *Service) inTx(ctx context.Context, id string, fn func(*ent.Tx) error) (*ent.PaymentAttempt, error) {
	if err := s.withTx(ctx, fn); err != nil {
		return nil, err
	}
	return s.Client.PaymentAttempt.Get(ctx, id)
}

// expectedBalance is the balance once the reseller's pending autopayments
// have settled: what autopayment and standing decide on, so a debit that
// arrives while an autopayment is in flight neither charges it twice nor
// makes the reseller past due for a moment. It locks the reseller's row.
func expectedBalance(ctx context.Context, tx *ent.Tx, resellerID string) (*ent.Reseller, money.Cents, error) {
	r, err := tx.Reseller.Query().Where(reseller.ID(resellerID)).Modify(store.ForUpdate).Only(ctx)
	if err != nil {
		return nil, 0, err
	}
	pending, err := tx.PaymentAttempt.Query().
		Where(
			paymentattempt.ResellerID(resellerID),
			paymentattempt.PurposeIn(paymentattempt.PurposeAUTOPAYMENT, paymentattempt.PurposeREFUND),
			paymentattempt.StatusEQ(paymentattempt.StatusPENDING),
		).
		All(ctx)
	if err != nil {
		return nil, 0, err
	}
	// Pending autopayments count as paid; pending refunds as gone.
	expected := r.Balance
	for _, a := range pending {
		if a.Purpose == paymentattempt.PurposeREFUND {
			expected -= a.Amount
		} else {
			expected += a.Amount
		}
	}
	return r, expected, nil
}
