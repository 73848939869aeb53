package checkout

import (
	"net/http"

	"clnd/ent"
	"clnd/internal/accounts"
	"clnd/internal/money"
)

// StripeEvent is a verified Stripe webhook event, reduced to what clnd acts on.
type StripeEvent struct {
	ID, Type          string
	PaymentIntentID   string
	AttemptID         string // the PaymentIntent's metadata attempt_id
	ChargeID          string
	Amount            money.Cents
	AmountRefunded    money.Cents
	DeclineCode       string
	FailureMessage    string
	DisputeID, Reason string
}

// StripeParser checks a Stripe webhook's signature and parses it.
type StripeParser func(body []byte, signature string) (StripeEvent, error)

// StripeWebhook is POST /webhooks/payments/stripe: the signature is checked
// by stripe-go; payment_intent.succeeded credits the attempt it names (a
// 3-D Secure payment the payer completed, or one whose answer clnd missed),
// payment_intent.payment_failed declines one still waiting, and
// charge.refunded and charge.dispute.created are recorded for operators.
// Out of order and repeated events are safe: a credit happens once, and a
// failure never undoes a success.
func (h *Handler) StripeWebhook(w http.ResponseWriter, r *http.Request) {
	if h.Stripe == nil {
		http.NotFound(w, r)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	ev, err := h.Stripe(body, r.Header.Get("Stripe-Signature"))
	if err != nil {
		http.Error(w, "unverified event", http.StatusBadRequest)
		return
	}
	ctx := h.context(r)
	seen, err := h.Accounts.SeenGatewayEvent(ctx, "stripe", ev.ID)
	if err == nil && !seen {
		err = h.applyStripe(r, ev)
	}
	if err != nil {
		h.Log.ErrorContext(ctx, "applying a Stripe webhook", "event", ev.ID, "type", ev.Type, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) applyStripe(r *http.Request, ev StripeEvent) error {
	ctx := h.context(r)
	rec := accounts.GatewayEventRecord{Provider: "stripe", EventID: ev.ID, Type: ev.Type, Reference: ev.PaymentIntentID}
	if ev.Amount != 0 {
		rec.Amount = &ev.Amount
	}
	a, err := h.Accounts.AttemptByRef(ctx, ev.AttemptID, ev.PaymentIntentID)
	switch {
	case err == nil:
		rec.ResellerID = a.ResellerID
	case !ent.IsNotFound(err):
		return err // answered 500: Stripe sends it again
	}
	switch ev.Type {
	case "payment_intent.succeeded":
		if err != nil {
			rec.Summary = "no payment attempt has this PaymentIntent: refund it in Stripe's dashboard"
			break
		}
		after, err := h.Accounts.ProviderSucceeded(ctx, a, ev.PaymentIntentID)
		if err != nil {
			return err
		}
		rec.Summary = "payment attempt " + a.ID + " is " + string(after.Status)
	case "payment_intent.payment_failed":
		if err != nil {
			rec.Summary = "no payment attempt has this PaymentIntent"
			break
		}
		after, err := h.Accounts.ProviderFailed(ctx, a, ev.PaymentIntentID, ev.DeclineCode, ev.FailureMessage)
		if err != nil {
			return err
		}
		rec.Summary = "payment attempt " + a.ID + " is " + string(after.Status)
	case "charge.refunded":
		rec.Reference = ev.ChargeID
		rec.Amount = &ev.AmountRefunded
		rec.Summary = "refunded at Stripe; refunds made outside clnd need an adjustment"
		if err == nil {
			// Usually clnd's own refund, whose webhook arrives before
			// Stripe's answer: no adjustment is due for it.
			ours, err := h.Accounts.RefundedThroughClnd(ctx, a, ev.AmountRefunded)
			if err != nil {
				return err
			}
			if ours {
				rec.Summary = "refunded by clnd (payment attempt " + a.ID + "); nothing to do"
			}
		}
	case "charge.dispute.created":
		rec.Reference = ev.DisputeID
		rec.Summary = "DISPUTE (" + ev.Reason + ") on charge " + ev.ChargeID + ": answer it in Stripe's dashboard"
	default:
		rec.Summary = "recorded"
	}
	return h.Accounts.RecordGatewayEvent(ctx, rec)
}
