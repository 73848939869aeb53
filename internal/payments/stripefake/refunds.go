package stripefake

import (
	"fmt"
	"net/url"
	"strconv"
)

// createRefund refunds all or part of a PaymentIntent's charge (or of a
// charge named directly).
func (f *Fake) createRefund(form url.Values, idempotencyKey string) response {
	ch, res := f.refundedCharge(form)
	if ch == nil {
		return res
	}
	unrefunded := ch.pi.amount - ch.amountRefunded
	if unrefunded == 0 {
		return invalidRequest(400, "charge_already_refunded", "",
			fmt.Sprintf("Charge %s has already been refunded.", ch.id))
	}
	amount := unrefunded
	if s := form.Get("amount"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return invalidRequest(400, "parameter_invalid_integer", "amount", "Invalid positive integer")
		}
		amount = n
	}
	if amount > unrefunded {
		return invalidRequest(400, "amount_too_large", "amount", fmt.Sprintf(
			"Refund amount (%s) is greater than unrefunded amount on charge (%s)", usd(amount), usd(unrefunded)))
	}
	switch reason := form.Get("reason"); reason {
	case "", "duplicate", "fraudulent", "requested_by_customer":
	default:
		return invalidRequest(400, "", "reason", "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer")
	}
	ch.amountRefunded += amount
	r := &refund{
		id: newID("re"), charge: ch, amount: amount, metadata: metadata(form),
		reason: form.Get("reason"), idempotencyKey: idempotencyKey, created: f.now().Unix(),
	}
	f.refunds = append(f.refunds, r)
	f.emit("charge.refunded", ch.json(), idempotencyKey)
	return success(r.json())
}

// refundedCharge finds the succeeded charge a refund names, or answers why
// it cannot be refunded.
func (f *Fake) refundedCharge(form url.Values) (*charge, response) {
	var ch *charge
	switch {
	case form.Get("payment_intent") != "":
		id := form.Get("payment_intent")
		pi, ok := f.intents[id]
		if !ok {
			return nil, invalidRequest(400, "resource_missing", "payment_intent", "No such payment_intent: '"+id+"'")
		}
		if pi.status != "succeeded" {
			return nil, invalidRequest(400, "", "payment_intent",
				"This PaymentIntent does not have a successful charge to refund.")
		}
		ch = pi.charge
	case form.Get("charge") != "":
		id := form.Get("charge")
		var ok bool
		if ch, ok = f.charges[id]; !ok {
			return nil, invalidRequest(400, "resource_missing", "charge", "No such charge: '"+id+"'")
		}
		if ch.status != "succeeded" {
			return nil, invalidRequest(400, "", "charge", "This charge cannot be refunded: it did not succeed.")
		}
	default:
		return nil, invalidRequest(400, "parameter_missing", "", "One of the following params should be provided for this request: payment_intent or charge.")
	}
	return ch, response{}
}

func usd(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }
