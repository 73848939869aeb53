// Package ledger is the only code that changes a reseller's balance. Every
// change is an append-only transaction carrying the balance after it, so the
// balance always equals the sum of the reseller's transactions.
package ledger

import (
	"context"
	"fmt"

	"clnd/ent"
	"clnd/ent/transaction"
	"clnd/internal/autopay"
	"clnd/internal/events"
	"clnd/internal/money"
)

// Entry is one balance change to post.
type Entry struct {
	ResellerID  string
	Kind        transaction.Kind
	Amount      money.Cents // positive credits, negative debits
	Description string
	InvoiceID   *string
}

// Post moves the balance and appends the transaction inside tx. The balance
// moves with one relative UPDATE (balance = balance + amount), which takes
// the reseller's row lock until tx ends, so concurrent posts serialise and
// each one's balanceAfter is exact; there is no read-then-write to race.
func Post(ctx context.Context, tx *ent.Tx, e Entry) (*ent.Transaction, error) {
	if e.Amount == 0 {
		return nil, fmt.Errorf("ledger: refusing a zero-amount %s", e.Kind)
	}
	r, err := tx.Reseller.UpdateOneID(e.ResellerID).AddBalance(e.Amount).Save(ctx)
	if err != nil {
		return nil, err
	}
	txn, err := tx.Transaction.Create().
		SetResellerID(e.ResellerID).
		SetKind(e.Kind).
		SetAmount(e.Amount).
		SetBalanceAfter(r.Balance).
		SetDescription(e.Description).
		SetNillableInvoiceID(e.InvoiceID).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if crossesLow(r.Balance-e.Amount, r.Balance) {
		if _, err := events.Emit(ctx, tx, events.BalanceLow, r.ID, events.ResellerOf(r)); err != nil {
			return nil, err
		}
	}
	return txn, nil
}

// crossesLow says whether a balance change takes the balance from the
// AUTO_ADD_FUNDS threshold or above to below it: balance.low, for every
// reseller whatever its autopayment mode, once per fall (a balance that stays
// low writes no more until it has been back above).
func crossesLow(before, after money.Cents) bool {
	return before >= autopay.AddFundsThreshold && after < autopay.AddFundsThreshold
}

// Balance returns the reseller's current balance.
func Balance(ctx context.Context, client *ent.Client, resellerID string) (money.Cents, error) {
	r, err := client.Reseller.Get(ctx, resellerID)
	if err != nil {
		return 0, err
	}
	return r.Balance, nil
}
