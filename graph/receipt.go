package graph

import (
	"context"

	"clnd/ent"
)

// recorded settles a payment attempt (a top-up's charge, a refund) and
// reads the ledger transaction and the receipt it wrote.
func (r *Resolver) recorded(ctx context.Context, attemptID string) (*ent.Transaction, *ent.Invoice, error) {
	res, err := r.Accounts.Paid(ctx, attemptID)
	if err != nil {
		return nil, nil, err
	}
	txn, err := r.Client.Transaction.Get(ctx, res.TransactionID)
	if err != nil {
		return nil, nil, err
	}
	inv, err := r.Client.Invoice.Get(ctx, res.InvoiceID)
	if err != nil {
		return nil, nil, err
	}
	return txn, inv, nil
}
