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

// AfterCharge runs in the same transaction as a reseller's monthly charge:
// autopayment, which lives above this package.
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
		if err != nil {
			failed++
			log.Error("billing a reseller", "period", p.String(), "reseller", id, "err", err)
			continue
		}
		if inv != nil {
			invoices = append(invoices, inv)
		}
	}
	if failed > 0 {
		return invoices, fmt.Errorf("billing %s: %d of %d resellers failed (see the log); run it again", p, failed, len(resellers))
	}
	return invoices, nil
}

func invoiceOne(ctx context.Context, client *ent.Client, resellerID string, p Period, now time.Time, after AfterCharge) (*ent.Invoice, error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	inv, err := InvoiceReseller(ctx, tx, resellerID, p, now)
	if err == nil && inv != nil && inv.Total != 0 && after != nil {
		err = after(ctx, tx, resellerID)
	}
	if err != nil {
		_ = tx.Rollback()
		if ent.IsConstraintError(err) {
			return nil, nil // another instance invoiced it a moment ago
		}
		return nil, err
	}
	return inv, tx.Commit()
}
