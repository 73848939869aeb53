package accounts

import (
	"context"

	"clnd/ent"
	"clnd/ent/paymentattempt"
	"clnd/ent/paymentmethod"
	"clnd/ent/reseller"
	"clnd/internal/apperr"
	"clnd/internal/autopay"
	"clnd/internal/clock"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

// Autopay applies the reseller's autopayment rule after a debit, in the
// debit's own transaction tx. It does not charge: it commits the due
// autopayment as a PENDING attempt with the debit, and settles it once tx
// has committed (a crash in between leaves it to the reconciler, so a due
// autopayment is never lost). The reseller's row is locked first and
// pending autopayments count as paid, so concurrent or repeated triggers
// queue and nothing is charged twice. With no default payment method the
// attempt is DECLINED at once, and the reseller is PAST_DUE while the
// balance is negative.
func (s *Service) Autopay(ctx context.Context, tx *ent.Tx, resellerID string) error {
	ctx = viewer.SystemContext(ctx)
	r, expected, err := expectedBalance(ctx, tx, resellerID)
	if err != nil {
		return err
	}
	var target money.Cents
	if r.AutopayTarget != nil {
		target = *r.AutopayTarget
	}
	due := autopay.Due(autopay.Mode(r.AutopayMode), expected, target)
	if due == 0 {
		return standingAfter(ctx, tx, resellerID)
	}
	pm, err := tx.PaymentMethod.Query().
		Where(paymentmethod.ResellerID(resellerID), paymentmethod.IsDefault(true)).
		Only(ctx)
	if ent.IsNotFound(err) {
		declined, err := tx.PaymentAttempt.Create().
			SetResellerID(resellerID).
			SetPurpose(paymentattempt.PurposeAUTOPAYMENT).
			SetAmount(due).
			SetGateway(s.Gateway.Name()).
			SetStatus(paymentattempt.StatusDECLINED).
			SetReason("no default payment method").
			SetSettledAt(clock.Now(ctx)).
			SetOpenedAt(clock.Wall()).
			Save(ctx)
		if err != nil {
			return err
		}
		if err := emitOutcome(ctx, tx, declined.ID); err != nil {
			return err
		}
		return standingAfter(ctx, tx, resellerID)
	}
	if err != nil {
		return err
	}
	a, err := s.openAttempt(ctx, tx, paymentattempt.PurposeAUTOPAYMENT, r, pm, due)
	if err != nil {
		return err
	}
	s.settleAfterCommit(tx, a.ID)
	return standingAfter(ctx, tx, resellerID)
}

// standingAfter sets PAST_DUE while the balance, counting pending
// autopayments as paid, is negative, and ACTIVE again once it is not (a
// suspended reseller stays suspended).
func standingAfter(ctx context.Context, tx *ent.Tx, resellerID string) error {
	_, expected, err := expectedBalance(ctx, tx, resellerID)
	if err != nil {
		return err
	}
	from, to := reseller.StatusACTIVE, reseller.StatusPAST_DUE
	if expected >= 0 {
		from, to = to, from
	}
	n, err := tx.Reseller.Update().
		Where(reseller.ID(resellerID), reseller.StatusEQ(from)).
		SetStatus(to).
		Save(ctx)
	if err != nil || n == 0 || to != reseller.StatusPAST_DUE {
		return err
	}
	return emitPastDue(ctx, tx, resellerID)
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
