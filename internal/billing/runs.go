package billing

import (
	"context"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/ent/predicate"
	"clnd/internal/money"
	"clnd/internal/store"
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
	return create(tx, r, at).Exec(ctx)
}

// PriceChange is a unit price change that took effect at a time.
type PriceChange struct {
	At       time.Time
	Old, New money.Cents
}

// OpenSince opens the runs of a thing added at `at`, in the past (an
// import): one per price in effect since then, each ended when the next
// took effect, so it is billed exactly as a thing added at `at` would have
// been (Open, then Reprice at each change). r.UnitPrice is today's price;
// changes are the price changes after `at`, oldest first.
func OpenSince(ctx context.Context, tx *ent.Tx, r Run, at time.Time, changes []PriceChange) error {
	if r.Quantity == 0 {
		return nil
	}
	start := at
	for _, c := range changes {
		if !c.At.After(start) {
			continue
		}
		then := r
		then.UnitPrice = c.Old
		if err := create(tx, then, start).SetEndedAt(c.At).Exec(ctx); err != nil {
			return err
		}
		start = c.At
	}
	return create(tx, r, start).Exec(ctx)
}

// create is the builder of a run starting at `at`.
func create(tx *ent.Tx, r Run, at time.Time) *ent.BillableRunCreate {
	return tx.BillableRun.Create().
		SetResellerID(r.ResellerID).
		SetKind(r.Kind).
		SetSubjectID(r.SubjectID).
		SetNillableProductID(r.ProductID).
		SetDescription(r.Description).
		SetQuantity(r.Quantity).
		SetUnitPrice(r.UnitPrice).
		SetStartedAt(at)
}

// Close ends the subject's open run at `at`. Removing a thing closes its run;
// changing one closes the run and opens the next (Change).
func Close(ctx context.Context, tx *ent.Tx, subjectID string, at time.Time) error {
	return tx.BillableRun.Update().
		Where(billablerun.SubjectID(subjectID), billablerun.EndedAtIsNil()).
		SetEndedAt(at).
		Exec(ctx)
}

// Reprice closes the open runs that match and opens their continuations at
// the new unit price, so a price change bills from the moment it is made.
func Reprice(ctx context.Context, tx *ent.Tx, match predicate.BillableRun, price money.Cents, at time.Time) error {
	// Locked, and so re-checked by PostgreSQL after waiting: a run that a
	// concurrent removal closed is not continued.
	open, err := tx.BillableRun.Query().Where(match, billablerun.EndedAtIsNil()).Modify(store.ForUpdate).All(ctx)
	if err != nil || len(open) == 0 {
		return err
	}
	ids := make([]string, len(open))
	for i, r := range open {
		ids[i] = r.ID
	}
	for start := 0; start < len(open); start += repriceChunk {
		end := min(start+repriceChunk, len(open))
		if err := tx.BillableRun.Update().Where(billablerun.IDIn(ids[start:end]...)).SetEndedAt(at).Exec(ctx); err != nil {
			return err
		}
		next := make([]*ent.BillableRunCreate, 0, end-start)
		for _, r := range open[start:end] {
			next = append(next, create(tx, Run{
				ResellerID: r.ResellerID, Kind: r.Kind, SubjectID: r.SubjectID, ProductID: r.ProductID,
				Description: r.Description, Quantity: r.Quantity, UnitPrice: price,
			}, at))
		}
		if err := tx.BillableRun.CreateBulk(next...).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// repriceChunk keeps each statement's parameters well under the drivers' limits.
const repriceChunk = 500
