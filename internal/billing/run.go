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
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// AfterCharge runs in the transaction of a reseller's monthly charge:
// autopayment, which lives above this package. It must not call a payment
// provider there (the transaction holds the invoice-number sequence every
// receipt needs); it records the due autopayment as a PENDING attempt,
// which commits with the invoice or not at all, and charges it after the
// commit. A crash in between leaves the attempt to the reconciler; an
// autopayment in a later transaction of its own would be lost by a crash
// before it, since a rerun skips the invoiced reseller.
type AfterCharge func(ctx context.Context, tx *ent.Tx, resellerID string) error

// BillPeriod invoices every reseller with billable activity in a period that has
// ended, each in one transaction with its due autopayment, and returns the
// invoices it created, in reseller ID order: so a run on the same data
// always numbers the invoices (and orders same-time transactions) the same
// way, on PostgreSQL too. Resellers invoiced already are skipped, so running it
// again (or on two instances at once) bills nothing twice; one reseller's
// failure is logged and does not undo the others.
func BillPeriod(ctx context.Context, client *ent.Client, p Period, after AfterCharge, log *slog.Logger) ([]*ent.Invoice, error) {
	return BillPeriodReporting(ctx, client, p, after, log, nil)
}

// Progress is told how many of a run's resellers are done (billed, skipped
// or failed), after each one: `clnd bill` and `clnd seed --bench` show it.
type Progress func(done, total int)

// BillPeriodReporting is BillPeriod telling progress (which may be nil)
// after each reseller.
func BillPeriodReporting(ctx context.Context, client *ent.Client, p Period, after AfterCharge, log *slog.Logger, progress Progress) ([]*ent.Invoice, error) {
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
		Order(billablerun.ByResellerID()).
		Select(billablerun.FieldResellerID).
		Strings(ctx)
	if err != nil {
		return nil, err
	}
	var invoices []*ent.Invoice
	var failed int
	for i, id := range resellers {
		inv, err := invoiceOne(ctx, client, id, p, now, after)
		if inv != nil {
			invoices = append(invoices, inv)
		}
		if err != nil {
			failed++
			log.Error("billing a reseller", "period", p.String(), "reseller", id, "err", err)
		}
		if progress != nil {
			progress(i+1, len(resellers))
		}
	}
	if failed > 0 {
		return invoices, fmt.Errorf("billing %s: %d of %d resellers failed (see the log); run it again", p, failed, len(resellers))
	}
	return invoices, nil
}

func invoiceOne(ctx context.Context, client *ent.Client, resellerID string, p Period, now time.Time, after AfterCharge) (*ent.Invoice, error) {
	inv, err := inTx(ctx, client, func(tx *ent.Tx) (*ent.Invoice, error) {
		inv, err := InvoiceReseller(ctx, tx, resellerID, p, now)
		if err != nil || inv == nil || inv.Total == 0 || after == nil {
			return inv, err
		}
		return inv, after(ctx, tx, resellerID)
	})
	if ent.IsConstraintError(err) {
		return nil, nil // another instance invoiced it a moment ago
	}
	return inv, err
}

func inTx[T any](ctx context.Context, client *ent.Client, fn func(*ent.Tx) (T, error)) (T, error) {
	var v T
	err := store.InTx(ctx, client, func(tx *ent.Tx) (err error) {
		v, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}
