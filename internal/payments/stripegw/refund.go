package stripegw

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v82"

	"clnd/internal/money"
	"clnd/internal/payments"
)

// maxMetadataValue is Stripe's limit on one metadata value.
const maxMetadataValue = 500

// Refund gives back r.Amount (all that is left when 0) of a charge;
// r.ChargeID is the PaymentIntent Charge returned (or a "ch_…" charge).
// r.Key is the Idempotency-Key, as for charges. Refunding more than is
// left is a Rejected failure (amount_too_large).
func (g *Gateway) Refund(ctx context.Context, r payments.RefundRequest) (payments.Refund, error) {
	if r.Key == "" {
		return payments.Refund{}, errors.New("stripe refund: no idempotency key")
	}
	params := &stripe.RefundCreateParams{}
	if strings.HasPrefix(r.ChargeID, "ch_") {
		params.Charge = stripe.String(r.ChargeID)
	} else {
		params.PaymentIntent = stripe.String(r.ChargeID)
	}
	if r.Amount > 0 {
		params.Amount = stripe.Int64(int64(r.Amount))
	}
	params.AddMetadata("refund_attempt_id", r.Key)
	// clnd's reason is free text; Stripe's own reason is an enum for fraud
	// and duplicates, so the text goes to metadata.
	if r.Reason != "" {
		params.AddMetadata("reason", truncate(r.Reason, maxMetadataValue))
	}
	params.SetIdempotencyKey(r.Key)
	re, err := g.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return payments.Refund{}, failure("refund", err)
	}
	return payments.Refund{ID: re.ID, Amount: money.Cents(re.Amount)}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) { // cut on a rune boundary
		n--
	}
	return s[:n]
}
