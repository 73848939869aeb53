package billing

import (
	"context"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/internal/money"
)

// Run describes a billable thing's next run of time.
type Run struct {
	ResellerID  string
	Kind        billablerun.Kind
	SubjectID   string  // the license, server account or backup
	ProductID   *string // nil for backups
	Description string
	Quantity    int
	UnitPrice   money.Cents
}

// Open starts a run at `at`. Adding a thing opens its first run.
func Open(ctx context.Context, tx *ent.Tx, r Run, at time.Time) error {
	if r.Quantity == 0 {
		return nil // nothing to bill: a server account with limit 0
	}
	return tx.BillableRun.Create().
		SetResellerID(r.ResellerID).
		SetKind(r.Kind).
		SetSubjectID(r.SubjectID).
		SetNillableProductID(r.ProductID).
		SetDescription(r.Description).
		SetQuantity(r.Quantity).
		SetUnitPrice(r.UnitPrice).
		SetStartedAt(at).
		Exec(ctx)
}

// Close ends the subject's open run at `at`. Removing a thing closes its run;
// changing one closes the run and opens the next (Change).
func Close(ctx context.Context, tx *ent.Tx, subjectID string, at time.Time) error {
	return tx.BillableRun.Update().
		Where(billablerun.SubjectID(subjectID), billablerun.EndedAtIsNil()).
		SetEndedAt(at).
		Exec(ctx)
}

// Change closes the subject's open run and opens r in its place.
func Change(ctx context.Context, tx *ent.Tx, r Run, at time.Time) error {
	if err := Close(ctx, tx, r.SubjectID, at); err != nil {
		return err
	}
	return Open(ctx, tx, r, at)
}
