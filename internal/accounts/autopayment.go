package accounts

import (
	"context"
	"fmt"

	"clnd/ent"
	"clnd/ent/paymentattempt"
	"clnd/ent/paymentmethod"
	"clnd/ent/reseller"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/autopay"
	"clnd/internal/ids"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Autopay applies the reseller's autopayment rule after a debit, in tx.
// The reseller's row is locked first, so concurrent or repeated triggers
// queue and each sees the balance the previous one left: nothing is charged
// twice. A successful charge is an AUTOPAYMENT transaction with a
// PAYMENT_RECEIVED receipt; a declined one (or none possible: no payment
// method) moves no money, is recorded as a declined PaymentAttempt, and
// leaves the reseller PAST_DUE while the balance is negative.
func (s *Service) Autopay(ctx context.Context, tx *ent.Tx, resellerID string) error {
	ctx = viewer.SystemContext(ctx)
	r, err := tx.Reseller.Query().Where(reseller.ID(resellerID)).Modify(store.ForUpdate).Only(ctx)
	if err != nil {
		return err
	}
	var target money.Cents
	if r.AutopayTarget != nil {
		target = *r.AutopayTarget
	}
	due := autopay.Due(autopay.Mode(r.AutopayMode), r.Balance, target)
	if due == 0 {
		return standingAfter(ctx, tx, resellerID, r.Balance)
	}
	declined := func(reason string) error {
		if err := tx.PaymentAttempt.Create().
			SetResellerID(resellerID).
			SetPurpose(paymentattempt.PurposeAUTOPAYMENT).
			SetAmount(due).
			SetStatus(paymentattempt.StatusDECLINED).
			SetReason(reason).
			Exec(ctx); err != nil {
			return err
		}
		return standingAfter(ctx, tx, resellerID, r.Balance)
	}
	pm, err := tx.PaymentMethod.Query().
		Where(paymentmethod.ResellerID(resellerID), paymentmethod.IsDefault(true)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return declined("no default payment method")
	}
	if err != nil {
		return err
	}
	charge, err := s.Gateway.Charge(ctx, payments.ChargeRequest{Key: ids.New("chg"), MethodRef: pm.GatewayRef, Amount: due, ResellerID: resellerID})
	if err != nil {
		// A decline, or a gateway that could not be reached: either way no
		// money moved, and the debit that triggered this must still stand.
		reason := err.Error()
		if e, ok := apperr.As(err); !ok || e.Code != apperr.PaymentFailed {
			reason = "the payment gateway failed: " + reason
		}
		return declined(reason)
	}
	refundUnlessCommitted(tx, s.Gateway, charge)
	txn, _, err := RecordPayment(ctx, tx, resellerID, transaction.KindAUTOPAYMENT, due, fmt.Sprintf("Autopayment (%s)", pm.Label))
	if err != nil {
		return err
	}
	if err := tx.PaymentAttempt.Create().
		SetResellerID(resellerID).
		SetPurpose(paymentattempt.PurposeAUTOPAYMENT).
		SetAmount(due).
		SetStatus(paymentattempt.StatusSUCCEEDED).
		SetTransactionID(txn.ID).
		Exec(ctx); err != nil {
		return err
	}
	return standingAfter(ctx, tx, resellerID, txn.BalanceAfter)
}

// standingAfter sets PAST_DUE while the balance is negative and ACTIVE
// again once it is not (a suspended reseller stays suspended).
func standingAfter(ctx context.Context, tx *ent.Tx, resellerID string, balance money.Cents) error {
	from, to := reseller.StatusACTIVE, reseller.StatusPAST_DUE
	if balance >= 0 {
		from, to = to, from
	}
	return tx.Reseller.Update().
		Where(reseller.ID(resellerID), reseller.StatusEQ(from)).
		SetStatus(to).
		Exec(ctx)
}

// SetAutopayment changes the calling reseller's autopayment mode.
// AUTO_ADD_FUNDS needs a target above the 100.00 threshold; the other
// modes take none.
func SetAutopayment(ctx context.Context, tx *ent.Tx, mode autopay.Mode, target *money.Cents) (*ent.Reseller, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller {
		return nil, apperr.New(apperr.Forbidden, "autopayment is a reseller's own setting")
	}
	u := tx.Reseller.UpdateOneID(v.ResellerID).SetAutopayMode(reseller.AutopayMode(mode))
	switch {
	case mode == autopay.AddFunds && (target == nil || *target <= autopay.AddFundsThreshold):
		return nil, apperr.Input("targetAmount", "AUTO_ADD_FUNDS needs a targetAmount above %s", autopay.AddFundsThreshold)
	case mode == autopay.AddFunds:
		u.SetAutopayTarget(*target)
	case target != nil:
		return nil, apperr.Input("targetAmount", "targetAmount applies only to AUTO_ADD_FUNDS")
	default:
		u.ClearAutopayTarget()
	}
	return u.Save(ctx)
}
