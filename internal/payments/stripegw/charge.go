package stripegw

import (
	"context"
	"errors"
	"fmt"

	"github.com/stripe/stripe-go/v82"

	"clnd/internal/money"
	"clnd/internal/payments"
)

// Charge takes r.Amount from a saved card while the reseller is away (a
// top-up or an autopayment): one PaymentIntent created and confirmed at
// once, with r.Key as Stripe's Idempotency-Key so that asking again after
// a timeout answers the first outcome instead of charging twice.
func (g *Gateway) Charge(ctx context.Context, r payments.ChargeRequest) (payments.Charge, error) {
	if r.Key == "" {
		// stripe-go would make up a key, and a retry would charge again.
		return payments.Charge{}, errors.New("stripe charge: no idempotency key")
	}
	params := &stripe.PaymentIntentCreateParams{
		Amount:        stripe.Int64(int64(r.Amount)),
		Currency:      stripe.String(string(stripe.CurrencyUSD)),
		Customer:      optional(r.CustomerRef),
		PaymentMethod: stripe.String(r.MethodRef),
		// Cards only: with the account's automatic payment methods a
		// server-side confirmation would also need a return_url.
		PaymentMethodTypes: []*string{stripe.String("card")},
		Confirm:            stripe.Bool(true),
		OffSession:         stripe.Bool(true),
		Description:        optional(r.Description),
	}
	params.AddMetadata("attempt_id", r.Key)
	if r.ResellerID != "" {
		params.AddMetadata("reseller_id", r.ResellerID)
	}
	params.SetIdempotencyKey(r.Key)
	pi, err := g.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return payments.Charge{}, failure("charge", err)
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		return payments.Charge{ID: pi.ID, Amount: money.Cents(pi.Amount)}, nil
	case stripe.PaymentIntentStatusRequiresAction:
		return payments.Charge{}, actionRequired(pi, "")
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		return payments.Charge{}, declined(pi)
	}
	// processing (not for cards in practice): the outcome comes later, and
	// the same key then answers it.
	return payments.Charge{}, fmt.Errorf("stripe charge: PaymentIntent %s is %s, outcome not known yet", pi.ID, pi.Status)
}

// declined is a PaymentIntent that Stripe answered without an error but
// whose payment failed.
func declined(pi *stripe.PaymentIntent) *payments.Failure {
	f := &payments.Failure{Outcome: payments.Declined, Code: "card_declined", Ref: pi.ID}
	if e := pi.LastPaymentError; e != nil {
		f.Message = e.Msg
		if e.DeclineCode != "" {
			f.Code = string(e.DeclineCode)
		} else if e.Code != "" {
			f.Code = string(e.Code)
		}
	}
	return f
}
