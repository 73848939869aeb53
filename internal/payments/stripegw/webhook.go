package stripegw

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"clnd/internal/money"
)

// The event types clnd acts on; ParseWebhook returns any other type with
// only ID, Type and Created set.
const (
	EventPaymentSucceeded = "payment_intent.succeeded"
	EventPaymentFailed    = "payment_intent.payment_failed"
	EventChargeRefunded   = "charge.refunded"
	EventDisputeCreated   = "charge.dispute.created"
)

// SignatureTolerance is how old a signed event may be: Stripe's default,
// which bounds how long a captured request can be replayed.
const SignatureTolerance = 300 * time.Second

// Event is a verified Stripe event, reduced to what clnd acts on. Stripe
// delivers at least once and in no set order: the caller acts on an ID
// once and reads the amounts as totals (AmountRefunded), not as deltas.
type Event struct {
	ID      string // evt_…
	Type    string
	Created time.Time

	PaymentIntentID string // pi_…
	AttemptID       string // clnd's payment attempt (metadata attempt_id)
	ChargeID        string // ch_…
	Amount          money.Cents
	// AmountRefunded is the charge's refunded total so far (charge.refunded).
	AmountRefunded money.Cents

	// DeclineCode and FailureMessage say why a payment failed
	// (payment_intent.payment_failed).
	DeclineCode, FailureMessage string

	// DisputeID, DisputeReason and DisputeAmount describe a chargeback
	// (charge.dispute.created).
	DisputeID, DisputeReason string
	DisputeAmount            money.Cents
}

// ParseWebhook verifies the Stripe-Signature header of a webhook delivery
// against the endpoint's signing secret (whsec_…) and parses the event.
// A missing, forged or tampered signature, or one older than
// SignatureTolerance, is an error (errors.Is webhook.ErrNotSigned,
// ErrNoValidSignature, ErrTooOld ...): answer 400 and act on nothing.
func ParseWebhook(body []byte, signatureHeader, secret string) (Event, error) {
	ev, err := webhook.ConstructEventWithOptions(body, signatureHeader, secret, webhook.ConstructEventOptions{
		Tolerance: SignatureTolerance,
		// An endpoint keeps the API version it was created with; the
		// few fields read here are the same in all of them.
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		return Event{}, fmt.Errorf("stripe webhook: %w", err)
	}
	out := Event{ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0)}
	switch out.Type {
	case EventPaymentSucceeded, EventPaymentFailed:
		var pi stripe.PaymentIntent
		if err := decode(ev, &pi); err != nil {
			return Event{}, err
		}
		fromPaymentIntent(&out, &pi)
	case EventChargeRefunded:
		var ch stripe.Charge
		if err := decode(ev, &ch); err != nil {
			return Event{}, err
		}
		out.ChargeID, out.AttemptID = ch.ID, ch.Metadata["attempt_id"]
		out.Amount, out.AmountRefunded = money.Cents(ch.Amount), money.Cents(ch.AmountRefunded)
		if ch.PaymentIntent != nil {
			out.PaymentIntentID = ch.PaymentIntent.ID
		}
	case EventDisputeCreated:
		var d stripe.Dispute
		if err := decode(ev, &d); err != nil {
			return Event{}, err
		}
		out.DisputeID, out.DisputeReason = d.ID, string(d.Reason)
		out.DisputeAmount = money.Cents(d.Amount)
		if d.Charge != nil {
			out.ChargeID = d.Charge.ID
		}
		if d.PaymentIntent != nil {
			out.PaymentIntentID = d.PaymentIntent.ID
		}
	}
	return out, nil
}

func fromPaymentIntent(out *Event, pi *stripe.PaymentIntent) {
	out.PaymentIntentID, out.AttemptID = pi.ID, pi.Metadata["attempt_id"]
	out.Amount = money.Cents(pi.Amount)
	if pi.LatestCharge != nil {
		out.ChargeID = pi.LatestCharge.ID
	}
	if e := pi.LastPaymentError; e != nil && out.Type == EventPaymentFailed {
		out.DeclineCode, out.FailureMessage = string(e.DeclineCode), e.Msg
		if out.DeclineCode == "" {
			out.DeclineCode = string(e.Code)
		}
	}
}

// decode reads the event's object into v.
func decode(ev stripe.Event, v any) error {
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return fmt.Errorf("stripe webhook %s: event %s has no data.object", ev.Type, ev.ID)
	}
	if err := json.Unmarshal(ev.Data.Raw, v); err != nil {
		return fmt.Errorf("stripe webhook %s: event %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}
