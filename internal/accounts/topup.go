package accounts

import (
	"context"
	"fmt"

	"clnd/ent"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/idempotency"
	"clnd/internal/ids"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/viewer"
)

// Top-up bounds.
var (
	MinTopUp = money.MustParse("1.00")
	MaxTopUp = money.MustParse("100000.00")
)

// TopUpResult names what a top-up wrote; it is what an idempotent retry replays.
type TopUpResult struct {
	TransactionID string `json:"transactionID"`
	InvoiceID     string `json:"invoiceID"`
}

type topUpFingerprint struct {
	Amount          money.Cents
	PaymentMethodID string
}

// TopUp charges one of the caller's payment methods (the default when
// methodID is empty) and credits the amount: a TOP_UP transaction and a
// PAYMENT_RECEIVED receipt, in tx. A declined charge is PAYMENT_FAILED and
// writes nothing. A past-due reseller whose balance reaches zero or more is
// ACTIVE again.
func (s *Service) TopUp(ctx context.Context, tx *ent.Tx, amount money.Cents, methodID, key string) (TopUpResult, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller {
		return TopUpResult{}, apperr.New(apperr.Forbidden, "top-ups are made by resellers; operators use adjustBalance")
	}
	if amount < MinTopUp || amount > MaxTopUp {
		return TopUpResult{}, apperr.Input("amount", "a top-up is %s to %s", MinTopUp, MaxTopUp)
	}
	fp := topUpFingerprint{Amount: amount, PaymentMethodID: methodID}
	res, _, err := idempotency.Do(ctx, tx, v.ResellerID, "topUp", key, fp, func() (TopUpResult, error) {
		return s.topUp(ctx, tx, v.ResellerID, amount, methodID)
	})
	return res, err
}

func (s *Service) topUp(ctx context.Context, tx *ent.Tx, resellerID string, amount money.Cents, methodID string) (TopUpResult, error) {
	var pm *ent.PaymentMethod
	var err error
	if methodID == "" {
		pm, err = defaultMethod(ctx, tx, resellerID)
	} else if pm, err = tx.PaymentMethod.Get(ctx, methodID); ent.IsNotFound(err) {
		err = apperr.NotFoundf("no payment method with ID %q", methodID)
	}
	if err != nil {
		return TopUpResult{}, err
	}
	charge, err := s.Gateway.Charge(ctx, payments.ChargeRequest{Key: ids.New("chg"), MethodRef: pm.GatewayRef, Amount: amount, ResellerID: resellerID})
	if err != nil {
		return TopUpResult{}, err
	}
	refundUnlessCommitted(tx, s.Gateway, charge)
	txn, inv, err := RecordPayment(ctx, tx, resellerID, transaction.KindTOP_UP, amount, fmt.Sprintf("Top-up (%s)", pm.Label))
	if err != nil {
		return TopUpResult{}, err
	}
	if err := standingAfter(ctx, tx, resellerID, txn.BalanceAfter); err != nil {
		return TopUpResult{}, err
	}
	return TopUpResult{TransactionID: txn.ID, InvoiceID: inv.ID}, nil
}
