package accounts

import (
	"context"
	"strings"
	"unicode/utf8"

	"clnd/ent"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/idempotency"
	"clnd/internal/ledger"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

// Adjustment is an operator's correction of a reseller's balance.
type Adjustment struct {
	ResellerID string
	Amount     money.Cents // negative debits, positive credits
	Reason     string
}

type adjusted struct {
	TransactionID string `json:"transactionID"`
}

// MaxAdjustment bounds one adjustment either way.
var MaxAdjustment = money.MustParse("1000000.00")

// AdjustBalance posts an ADJUSTMENT (operator only, idempotent). A debit
// triggers autopayment like any other debit; a credit may end PAST_DUE.
func (s *Service) AdjustBalance(ctx context.Context, tx *ent.Tx, a Adjustment, key string) (string, error) {
	if viewer.FromContext(ctx).Role != viewer.Operator {
		return "", apperr.ErrOperatorOnly
	}
	a.Reason = strings.TrimSpace(a.Reason)
	switch {
	case a.Amount == 0 || a.Amount > MaxAdjustment || a.Amount < -MaxAdjustment:
		return "", apperr.Input("amount", "an adjustment is non-zero and at most %s either way", MaxAdjustment)
	case a.Reason == "" || utf8.RuneCountInString(a.Reason) > 500:
		return "", apperr.Input("reason", "say why, in at most 500 characters")
	}
	if _, err := tx.Reseller.Get(ctx, a.ResellerID); ent.IsNotFound(err) {
		return "", apperr.NotFoundf("no reseller with ID %q", a.ResellerID)
	} else if err != nil {
		return "", err
	}
	res, _, err := idempotency.Do(ctx, tx, "operator", "adjustBalance", key, a, func() (adjusted, error) {
		txn, err := ledger.Post(ctx, tx, ledger.Entry{
			ResellerID: a.ResellerID, Kind: transaction.KindADJUSTMENT, Amount: a.Amount, Description: a.Reason,
		})
		if err != nil {
			return adjusted{}, err
		}
		if a.Amount < 0 {
			err = s.Autopay(ctx, tx, a.ResellerID)
		} else {
			err = standingAfter(ctx, tx, a.ResellerID)
		}
		return adjusted{TransactionID: txn.ID}, err
	})
	return res.TransactionID, err
}
