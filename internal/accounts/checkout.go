package accounts

import (
	"context"
	"fmt"

	"clnd/ent"
	"clnd/ent/checkout"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

// StartCheckout opens a PayPal-style redirect payment for the calling
// reseller. No money moves until the provider confirms it (CompleteCheckout).
func StartCheckout(ctx context.Context, tx *ent.Tx, provider string, amount money.Cents) (*ent.Checkout, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller {
		return nil, apperr.New(apperr.Forbidden, "checkouts are made by resellers")
	}
	if amount < MinTopUp || amount > MaxTopUp {
		return nil, apperr.Input("amount", "a checkout is %s to %s", MinTopUp, MaxTopUp)
	}
	return tx.Checkout.Create().
		SetResellerID(v.ResellerID).
		SetAmount(amount).
		SetProvider(provider).
		Save(ctx)
}

// CompleteCheckout credits a confirmed checkout exactly once, in tx: the
// PENDING → COMPLETED update is conditional, so a repeated or concurrent
// confirmation finds nothing to do (credited is false). Any other state
// (canceled, expired) is not credited either.
func CompleteCheckout(ctx context.Context, tx *ent.Tx, id string) (credited bool, err error) {
	ctx = viewer.SystemContext(ctx)
	n, err := tx.Checkout.Update().
		Where(checkout.ID(id), checkout.StatusEQ(checkout.StatusPENDING)).
		SetStatus(checkout.StatusCOMPLETED).
		SetCompletedAt(clock.Now(ctx)).
		Save(ctx)
	if err != nil || n == 0 {
		return false, err
	}
	c, err := tx.Checkout.Get(ctx, id)
	if err != nil {
		return false, err
	}
	txn, _, err := RecordPayment(ctx, tx, c.ResellerID, transaction.KindTOP_UP, c.Amount, fmt.Sprintf("Top-up by %s checkout", c.Provider))
	if err != nil {
		return false, err
	}
	if err := tx.Checkout.UpdateOne(c).SetTransactionID(txn.ID).Exec(ctx); err != nil {
		return false, err
	}
	return true, standingAfter(ctx, tx, c.ResellerID, txn.BalanceAfter)
}

// CancelCheckout ends a pending checkout without payment.
func CancelCheckout(ctx context.Context, tx *ent.Tx, id string) error {
	ctx = viewer.SystemContext(ctx)
	return tx.Checkout.Update().
		Where(checkout.ID(id), checkout.StatusEQ(checkout.StatusPENDING)).
		SetStatus(checkout.StatusCANCELED).
		Exec(ctx)
}
