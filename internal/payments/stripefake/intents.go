package stripefake

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// minimumCharge is Stripe's smallest USD charge, in cents.
const minimumCharge = 50

// createPaymentIntent creates a PaymentIntent and, with confirm=true,
// charges it at once, as an off-session top-up does.
func (f *Fake) createPaymentIntent(form url.Values, idempotencyKey string) response {
	amount, err := strconv.ParseInt(form.Get("amount"), 10, 64)
	switch {
	case form.Get("amount") == "":
		return invalidRequest(400, "parameter_missing", "amount", "Missing required param: amount.")
	case err != nil:
		return invalidRequest(400, "parameter_invalid_integer", "amount", "Invalid integer: "+form.Get("amount"))
	case form.Get("currency") == "":
		return invalidRequest(400, "parameter_missing", "currency", "Missing required param: currency.")
	case amount < minimumCharge:
		return invalidRequest(400, "amount_too_small", "amount", "Amount must be at least $0.50 usd")
	}
	customerID := form.Get("customer")
	if _, ok := f.customers[customerID]; customerID != "" && !ok {
		return invalidRequest(400, "resource_missing", "customer", "No such customer: '"+customerID+"'")
	}
	pi := &paymentIntent{
		id: newID("pi"), amount: amount, currency: form.Get("currency"),
		customer: customerID, description: form.Get("description"),
		metadata: metadata(form), status: "requires_payment_method",
		created: f.now().Unix(), idempotencyKey: idempotencyKey,
	}
	pi.clientSecret = pi.id + "_secret_" + newID("cs")[3:]
	var pm *paymentMethod
	if id := form.Get("payment_method"); id != "" {
		var missing *response
		if pm, missing = f.paymentMethod(id, "payment_method"); missing != nil {
			return *missing
		}
		if pm.customer != "" && pm.customer != customerID {
			return invalidRequest(400, "", "payment_method",
				"The provided PaymentMethod belongs to a different Customer; pass that Customer in the `customer` parameter.")
		}
		pi.method = pm.id
		pi.status = "requires_confirmation"
	}
	f.intents[pi.id] = pi
	f.intentList = append(f.intentList, pi)
	if form.Get("confirm") != "true" {
		return success(pi.json())
	}
	if pm == nil {
		return invalidRequest(400, "payment_intent_unexpected_state", "",
			"You cannot confirm this PaymentIntent because it's missing a payment method.")
	}
	return f.confirm(pi, pm, form.Get("off_session") == "true")
}

// confirm charges pi's card the way the test card behaves.
func (f *Fake) confirm(pi *paymentIntent, pm *paymentMethod, offSession bool) response {
	c := pm.card
	switch {
	case c.Authenticate && !offSession:
		// On session the customer can authenticate: the intent waits.
		pi.status = "requires_action"
		return success(pi.json())
	case c.Authenticate:
		// Off session nobody can: Stripe fails the payment and the
		// customer must come back to authenticate it.
		return f.decline(pi, pm, "authentication_required", "authentication_required",
			"Your card was declined. This transaction requires authentication.")
	case c.Code != "":
		return f.decline(pi, pm, c.Code, c.DeclineCode, c.Message)
	}
	pi.status = "succeeded"
	pi.charge = f.newCharge(pi, "succeeded")
	f.emit("payment_intent.succeeded", pi.json(), pi.idempotencyKey)
	return success(pi.json())
}

// decline fails a payment as Stripe does: a 402 card_error that carries the
// PaymentIntent, now requires_payment_method with its last_payment_error.
func (f *Fake) decline(pi *paymentIntent, pm *paymentMethod, code, declineCode, message string) response {
	ch := f.newCharge(pi, "failed")
	ch.failureCode, ch.failureMessage = code, message
	pi.charge = ch
	pi.status = "requires_payment_method"
	pi.lastError = map[string]any{
		"type": "card_error", "code": code, "decline_code": declineCode,
		"message": message, "charge": ch.id, "payment_method": pm.json(),
	}
	f.emit("payment_intent.payment_failed", pi.json(), pi.idempotencyKey)
	return stripeError(http.StatusPaymentRequired, "card_error", code, message, map[string]any{
		"decline_code": declineCode, "charge": ch.id,
		"payment_intent": pi.json(), "payment_method": pm.json(),
	})
}

func (f *Fake) newCharge(pi *paymentIntent, status string) *charge {
	ch := &charge{id: newID("ch"), pi: pi, status: status, created: f.now().Unix()}
	f.charges[ch.id] = ch
	return ch
}

func (f *Fake) retrievePaymentIntent(id string) response {
	pi, ok := f.intents[id]
	if !ok {
		return invalidRequest(http.StatusNotFound, "resource_missing", "intent",
			fmt.Sprintf("No such payment_intent: '%s'", id))
	}
	return success(pi.json())
}
