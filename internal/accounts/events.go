package accounts

import (
	"context"

	"clnd/ent"
	"clnd/ent/paymentattempt"
	"clnd/internal/events"
	"clnd/internal/viewer"
)

// emitOutcome writes the event of an attempt's recorded outcome in tx, the
// transaction that recorded it: payment.succeeded or payment.failed for
// money taken, refund.created for money given back. A declined refund
// writes none: no refund was made, and the operator who asked is told.
func emitOutcome(ctx context.Context, tx *ent.Tx, attemptID string) error {
	ctx = viewer.SystemContext(ctx)
	a, err := tx.PaymentAttempt.Get(ctx, attemptID)
	if err != nil {
		return err
	}
	switch {
	case a.Purpose == paymentattempt.PurposeREFUND && a.Status == paymentattempt.StatusSUCCEEDED:
		txn, err := tx.Transaction.Get(ctx, *a.TransactionID)
		if err != nil {
			return err
		}
		_, err = events.Emit(ctx, tx, events.RefundCreated, a.ResellerID, events.RefundOf(a, txn))
		return err
	case a.Purpose == paymentattempt.PurposeREFUND:
		return nil
	case a.Status == paymentattempt.StatusSUCCEEDED:
		_, err = events.Emit(ctx, tx, events.PaymentSucceeded, a.ResellerID, events.PaymentOf(a))
		return err
	case a.Status == paymentattempt.StatusDECLINED:
		_, err = events.Emit(ctx, tx, events.PaymentFailed, a.ResellerID, events.PaymentOf(a))
		return err
	}
	return nil
}

// emitDeclined writes payment.failed for an attempt declined in tx, before
// what the decline leaves behind (declinedTx), so that a reseller's events
// read payment.failed, then reseller.past_due. A declined deposit whose
// registration is abandoned with it writes none: that reseller never
// existed for the API.
func emitDeclined(ctx context.Context, tx *ent.Tx, a *ent.PaymentAttempt) error {
	if a.Purpose == paymentattempt.PurposeDEPOSIT {
		used, err := registrationInUse(viewer.SystemContext(ctx), tx, a.ResellerID)
		if err != nil || !used {
			return err
		}
	}
	return emitOutcome(ctx, tx, a.ID)
}

// emitPastDue writes reseller.past_due for a reseller whose status became
// PAST_DUE in tx.
func emitPastDue(ctx context.Context, tx *ent.Tx, resellerID string) error {
	ctx = viewer.SystemContext(ctx)
	r, err := tx.Reseller.Get(ctx, resellerID)
	if err != nil {
		return err
	}
	_, err = events.Emit(ctx, tx, events.ResellerPastDue, r.ID, events.ResellerOf(r))
	return err
}

// emitInvoice writes invoice.created for a receipt or refund invoice made in tx.
func emitInvoice(ctx context.Context, tx *ent.Tx, inv *ent.Invoice) error {
	_, err := events.Emit(ctx, tx, events.InvoiceCreated, inv.ResellerID, events.InvoiceOf(inv))
	return err
}
