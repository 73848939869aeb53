package billing

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// AfterCharge runs after a reseller's monthly charge has committed, in a
// transaction of its own: autopayment, which lives above this package. Its
// gateway call so never waits inside the invoice's transaction (which holds
// the invoice-number sequence every receipt needs).
type AfterCharge func(ctx context.Context, tx *ent.Tx, resellerID string) error

// BillPeriod invoices every reseller with billable activity in a period that has
// ended, each in its own transaction with its autopayment, and returns the
// invoices it created. Resellers invoiced already are skipped, so running it
// again (or on two instances at once) bills nothing twice; one reseller's
// failure is logged and does not undo the others.
func BillPeriod(ctx context.Context, client *ent.Client, p Period, after AfterCharge, log *slog.Logger) ([]*ent.Invoice, error) {
	ctx = viewer.SystemContext(ctx)
	now := clock.Now(ctx)
	if now.Before(p.End) {
		return nil, apperr.Input("period", "%s has not ended yet (it ends %s)", p, p.End.Format(time.RFC3339))
	}
	resellers, err := client.BillableRun.Query().
		Where(
			billablerun.StartedAtLT(p.End),
			billablerun.Or(billablerun.EndedAtIsNil(), billablerun.EndedAtGT(p.Start)),
		).
		Unique(true).
		Select(billablerun.FieldResellerID).
		Strings(ctx)
	if err != nil {
		return nil, err
	}
	var invoices []*ent.Invoice
	var failed int
	for _, id := range resellers {
		inv, err := invoiceOne(ctx, client, id, p, now, after)
		if inv != nil {
			invoices = append(invoices, inv)
		}
		if err != nil {
			failed++
			log.Error("billing a reseller", "period", p.String(), "reseller", id, "err", err)
		}
	}
	if failed > 0 {
		return invoices, fmt.Errorf("billing %s: %d of %d resellers failed (see the log); run it again", p, failed, len(resellers))
	}
	return invoices, nil
}

func invoiceOne(ctx context.Context, client *ent.Client, resellerID string, p Period, now time.Time, after AfterCharge) (*ent.Invoice, error) {
	inv, err := inTx(ctx, client, func(tx *ent.Tx) (*ent.Invoice, error) {
		return InvoiceReseller(ctx, tx, resellerID, p, now)
	})
	if ent.IsConstraintError(err) {
		return nil, nil // another instance invoiced it a moment ago
	}
	if err != nil || inv == nil || inv.Total == 0 || after == nil {
		return inv, err
	}
	_, err = inTx(ctx, client, func(tx *ent.Tx) (*ent.Invoice, error) {
		return nil, after(ctx, tx, resellerID)
	})
	if err != nil {
		return inv, fmt.Errorf("invoice %s is committed, but its autopayment failed: %w", inv.Number, err)
	}
	return inv, nil
}

func inTx[T any](ctx context.Context, client *ent.Client, fn func(*ent.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := client.Tx(ctx)
	if err != nil {
		return zero, err
	}
	v, err := fn(tx)
	if err != nil {
		_ = tx.Rollback()
		return zero, err
	}
	return v, tx.Commit()
}
