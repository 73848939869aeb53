package accounts

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"clnd/ent"
	"clnd/ent/invoice"
	"clnd/ent/paymentattempt"
	"clnd/ent/reseller"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/idempotency"
	"clnd/internal/ledger"
	"clnd/internal/money"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// RefundRequest is an operator's refund of one payment.
type RefundRequest struct {
	TransactionID string
	Amount        money.Cents
	Reason        string
}

type refundOpened struct {
	AttemptID string `json:"attemptID"`
}

// OpenRefund commits a PENDING refund of all or part of one payment (a
// DEPOSIT, TOP_UP or AUTOPAYMENT transaction, checkouts included), to be
// settled through the provider that took the money (Settle, then Refunded).
// It is at most what the payment brought in less its earlier and pending
// refunds, and at most the reseller's balance less pending refunds:
// CONFLICT otherwise. Operators only; idempotent by key.
func (s *Service) OpenRefund(ctx context.Context, r RefundRequest, key string) (string, error) {
	if viewer.FromContext(ctx).Role != viewer.Operator {
		return "", apperr.ErrOperatorOnly
	}
	r.Reason = strings.TrimSpace(r.Reason)
	switch {
	case r.Amount <= 0:
		return "", apperr.Input("amount", "a refund is a positive amount")
	case r.Reason == "" || utf8.RuneCountInString(r.Reason) > 500:
		return "", apperr.Input("reason", "say why, in at most 500 characters")
	}
	var res refundOpened
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		var err error
		res, _, err = idempotency.Do(ctx, tx, "operator", "refund", key, r, func() (refundOpened, error) {
			id, err := s.openRefund(ctx, tx, r)
			return refundOpened{AttemptID: id}, err
		})
		return err
	})
	return res.AttemptID, err
}

func (s *Service) openRefund(ctx context.Context, tx *ent.Tx, r RefundRequest) (string, error) {
	paid, err := tx.Transaction.Get(ctx, r.TransactionID)
	if ent.IsNotFound(err) {
		return "", apperr.NotFoundf("no transaction with ID %q", r.TransactionID)
	}
	if err != nil {
		return "", err
	}
	switch paid.Kind {
	case transaction.KindDEPOSIT, transaction.KindTOP_UP, transaction.KindAUTOPAYMENT:
	default:
		return "", apperr.Input("transactionID", "only payments (DEPOSIT, TOP_UP, AUTOPAYMENT) are refunded; this is a %s", paid.Kind)
	}
	// The reseller's row lock serialises refunds and debits of one reseller.
	owner, err := tx.Reseller.Query().Where(reseller.ID(paid.ResellerID)).Modify(store.ForUpdate).Only(ctx)
	if err != nil {
		return "", err
	}
	charge, err := tx.PaymentAttempt.Query().
		Where(paymentattempt.TransactionID(paid.ID), paymentattempt.PurposeNEQ(paymentattempt.PurposeREFUND)).
		Only(ctx)
	if ent.IsNotFound(err) || (err == nil && charge.GatewayRef == "") {
		return "", apperr.New(apperr.Conflict, "this payment has no record of the provider's charge (it predates payment attempts): refund it at the provider and post an adjustment")
	}
	if err != nil {
		return "", err
	}
	refunds, err := tx.PaymentAttempt.Query().
		Where(
			paymentattempt.ResellerID(paid.ResellerID),
			paymentattempt.PurposeEQ(paymentattempt.PurposeREFUND),
			paymentattempt.StatusIn(paymentattempt.StatusPENDING, paymentattempt.StatusSUCCEEDED),
		).
		All(ctx)
	if err != nil {
		return "", err
	}
	var ofThis, pending money.Cents
	for _, rf := range refunds {
		if rf.RefundOfID != nil && *rf.RefundOfID == paid.ID {
			ofThis += rf.Amount
		}
		if rf.Status == paymentattempt.StatusPENDING {
			pending += rf.Amount
		}
	}
	if left := paid.Amount - ofThis; r.Amount > left {
		return "", apperr.New(apperr.Conflict, "at most %s of this payment is left to refund", max(left, 0))
	}
	if avail := owner.Balance - pending; r.Amount > avail {
		return "", apperr.New(apperr.Conflict, "the refund is more than the reseller's balance (%s available)", max(avail, 0))
	}
	a, err := tx.PaymentAttempt.Create().
		SetResellerID(paid.ResellerID).
		SetPurpose(paymentattempt.PurposeREFUND).
		SetAmount(r.Amount).
		SetGateway(charge.Gateway).
		SetMethodLabel(charge.MethodLabel).
		SetChargeRef(charge.GatewayRef).
		SetRefundOfID(paid.ID).
		SetReason(r.Reason).
		SetOpenedAt(clock.Wall()).
		SetNextTryAt(clock.Wall().Add(s.grace())).
		Save(viewer.SystemContext(ctx))
	if err != nil {
		return "", err
	}
	return a.ID, nil
}

// recordRefund debits the refunded money: a REFUND invoice and the negative
// REFUND transaction that points at it.
func recordRefund(ctx context.Context, tx *ent.Tx, a *ent.PaymentAttempt) (*ent.Transaction, error) {
	current, err := tx.Reseller.Query().Where(reseller.ID(a.ResellerID)).Modify(store.ForUpdate).Only(ctx)
	if err != nil {
		return nil, err
	}
	number, err := billing.NextInvoiceNumber(ctx, tx, clock.Now(ctx))
	if err != nil {
		return nil, err
	}
	inv, err := tx.Invoice.Create().
		SetResellerID(a.ResellerID).
		SetNumber(number).
		SetType(invoice.TypeREFUND).
		SetTotal(-a.Amount).
		SetBalance(current.Balance - a.Amount).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := emitInvoice(ctx, tx, inv); err != nil {
		return nil, err
	}
	description := fmt.Sprintf("Refund to %s", a.MethodLabel)
	if a.MethodLabel == "" {
		description = "Refund"
	}
	if a.Reason != "" {
		description += ": " + a.Reason
	}
	return ledger.Post(ctx, tx, ledger.Entry{
		ResellerID: a.ResellerID, Kind: transaction.KindREFUND, Amount: -a.Amount, Description: description, InvoiceID: &inv.ID,
	})
}
