package paypal

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"clnd/internal/payments"
)

type refundRequest struct {
	Amount      *amount `json:"amount,omitempty"`
	NoteToPayer string  `json:"note_to_payer,omitempty"`
}

type refundAnswer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Amount amount `json:"amount"`
}

// Refund implements payments.CheckoutProvider: it refunds r.Amount of the
// capture r.ChargeID (everything that remains when r.Amount is 0). r.Key is
// the PayPal-Request-Id. PayPal refusing (more than remains, a fully
// refunded capture, an unknown capture) is a Rejected failure. A PENDING
// refund is PayPal's commitment and counts as refunded.
func (p *Provider) Refund(ctx context.Context, r payments.RefundRequest) (payments.Refund, error) {
	if r.ChargeID == "" || r.Key == "" {
		return payments.Refund{}, errors.New("paypal: a refund needs a capture ID and a key")
	}
	if r.Amount < 0 {
		return payments.Refund{}, &payments.Failure{Outcome: payments.Rejected, Code: "INVALID_AMOUNT", Message: "negative refund " + r.Amount.String(), Ref: r.ChargeID}
	}
	req := refundRequest{NoteToPayer: truncate(r.Reason, 255)}
	if r.Amount > 0 {
		a := toAmount(r.Amount)
		req.Amount = &a
	}
	var ans refundAnswer
	path := "/v2/payments/captures/" + url.PathEscape(r.ChargeID) + "/refund"
	if err := p.call(ctx, http.MethodPost, path, r.Key, req, &ans); err != nil {
		return payments.Refund{}, classify(err, r.ChargeID)
	}
	if ans.Status == "FAILED" || ans.Status == "CANCELLED" {
		return payments.Refund{}, &payments.Failure{Outcome: payments.Rejected, Code: "REFUND_" + ans.Status, Message: "PayPal did not refund", Ref: r.ChargeID}
	}
	amt, err := ans.Amount.cents()
	if err != nil {
		return payments.Refund{}, err
	}
	return payments.Refund{ID: ans.ID, Amount: amt}, nil
}
