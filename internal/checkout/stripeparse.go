package checkout

import "clnd/internal/payments/stripegw"

// StripeParserFor checks Stripe's webhooks against the endpoint's signing
// secret (whsec_…) with stripegw.ParseWebhook and reduces them to what the
// handler acts on. clnd serve and the tests use the same mapping.
func StripeParserFor(secret string) StripeParser {
	return func(body []byte, signature string) (StripeEvent, error) {
		ev, err := stripegw.ParseWebhook(body, signature, secret)
		return StripeEvent{
			ID: ev.ID, Type: ev.Type, PaymentIntentID: ev.PaymentIntentID, AttemptID: ev.AttemptID,
			ChargeID: ev.ChargeID, Amount: ev.Amount, AmountRefunded: ev.AmountRefunded,
			DeclineCode: ev.DeclineCode, FailureMessage: ev.FailureMessage, DisputeID: ev.DisputeID, Reason: ev.DisputeReason,
		}, err
	}
}
