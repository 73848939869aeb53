package accounts

import (
	"context"

	"clnd/ent"
	"clnd/ent/paymentattempt"
	"clnd/internal/apperr"
	"clnd/internal/idempotency"
	"clnd/internal/money"
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
// PAYMENT_RECEIVED receipt. The PENDING attempt is committed first, in a
// transaction of its own, and the charge happens after (Paid, called with
// the attempt ID this returns). A retry with the
// same key answers the same attempt, settling it first if it is still
// pending.
func (s *Service) TopUp(ctx context.Context, amount money.Cents, methodID, key string) (attemptID string, err error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller {
		return "", apperr.New(apperr.Forbidden, "top-ups are made by resellers; operators use adjustBalance")
	}
	if amount < MinTopUp || amount > MaxTopUp {
		return "", apperr.Input("amount", "a top-up is %s to %s", MinTopUp, MaxTopUp)
	}
	fp := topUpFingerprint{Amount: amount, PaymentMethodID: methodID}
	var res topUpAttempt
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		res, _, err = idempotency.Do(ctx, tx, v.ResellerID, "topUp", key, fp, func() (topUpAttempt, error) {
			id, err := s.openTopUp(ctx, tx, v.ResellerID, amount, methodID)
			return topUpAttempt{AttemptID: id}, err
		})
		return err
	})
	return res.AttemptID, err
}

// topUpAttempt is what a top-up's idempotency key replays: its attempt.
type topUpAttempt struct {
	AttemptID string `json:"attemptID"`
}

func (s *Service) openTopUp(ctx context.Context, tx *ent.Tx, resellerID string, amount money.Cents, methodID string) (string, error) {
	var pm *ent.PaymentMethod
	var err error
	if methodID == "" {
		pm, err = defaultMethod(ctx, tx, resellerID)
	} else if pm, err = tx.PaymentMethod.Get(ctx, methodID); ent.IsNotFound(err) {
		err = apperr.NotFoundf("no payment method with ID %q", methodID)
	}
	if err != nil {
		return "", err
	}
	r, err := tx.Reseller.Get(ctx, resellerID)
	if err != nil {
		return "", err
	}
	a, err := s.openAttempt(ctx, tx, paymentattempt.PurposeTOP_UP, r, pm, amount)
	if err != nil {
		return "", err
	}
	return a.ID, nil
}

// Paid settles an attempt and answers what it recorded: the transaction
// and its receipt (PAYMENT_RECEIVED for a charge, REFUND for a refund). An
// attempt that did not go through answers the error Settle gave.
func (s *Service) Paid(ctx context.Context, attemptID string) (TopUpResult, error) {
	a, err := s.Settle(ctx, attemptID)
	if err != nil {
		return TopUpResult{}, err
	}
	txn, err := s.Client.Transaction.Get(viewer.SystemContext(ctx), *a.TransactionID)
	if err != nil {
		return TopUpResult{}, err
	}
	res := TopUpResult{TransactionID: txn.ID}
	if txn.InvoiceID != nil {
		res.InvoiceID = *txn.InvoiceID
	}
	return res, nil
}
