package stripefake

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// The fake's state: Stripe's objects reduced to the fields stripegw reads
// or a test inspects. Each renders as the JSON Stripe documents for it.

type customer struct {
	id, email, name string
	metadata        map[string]string
	created         int64
}

func (c *customer) json() map[string]any {
	return map[string]any{
		"id": c.id, "object": "customer", "email": c.email, "name": c.name,
		"metadata": c.metadata, "created": c.created, "livemode": false,
	}
}

type paymentMethod struct {
	id       string
	card     card
	customer string // "" when detached
	created  int64
}

func (pm *paymentMethod) json() map[string]any {
	return map[string]any{
		"id": pm.id, "object": "payment_method", "type": "card",
		"card": map[string]any{
			"brand": pm.card.Brand, "last4": pm.card.Last4,
			"exp_month": 12, "exp_year": time.Now().Year() + 3,
			"funding": "credit", "country": "US",
		},
		"customer": nullable(pm.customer), "metadata": map[string]string{},
		"created": pm.created, "livemode": false,
	}
}

type paymentIntent struct {
	id, clientSecret string
	amount           int64
	currency         string
	customer, method string
	description      string
	metadata         map[string]string
	status           string
	lastError        map[string]any // last_payment_error, nil when none
	charge           *charge        // latest_charge, nil before a confirmation
	created          int64
	idempotencyKey   string
}

func (pi *paymentIntent) json() map[string]any {
	received := int64(0)
	var latest any
	if pi.charge != nil {
		latest = pi.charge.id
		if pi.charge.status == "succeeded" {
			received = pi.amount
		}
	}
	var next any
	if pi.status == "requires_action" {
		next = map[string]any{"type": "use_stripe_sdk", "use_stripe_sdk": map[string]any{}}
	}
	return map[string]any{
		"id": pi.id, "object": "payment_intent", "amount": pi.amount,
		"amount_received": received, "currency": pi.currency,
		"customer": nullable(pi.customer), "payment_method": nullable(pi.method),
		"payment_method_types": []string{"card"},
		"status":               pi.status, "client_secret": pi.clientSecret,
		"description": nullable(pi.description), "metadata": pi.metadata,
		"last_payment_error": pi.lastError, "latest_charge": latest,
		"next_action": next, "capture_method": "automatic",
		"confirmation_method": "automatic", "created": pi.created, "livemode": false,
	}
}

type charge struct {
	id             string
	pi             *paymentIntent
	status         string // succeeded or failed
	amountRefunded int64
	failureCode    string
	failureMessage string
	created        int64
}

func (ch *charge) json() map[string]any {
	pi := ch.pi
	captured := int64(0)
	if ch.status == "succeeded" {
		captured = pi.amount
	}
	return map[string]any{
		"id": ch.id, "object": "charge", "amount": pi.amount, "amount_captured": captured,
		"amount_refunded": ch.amountRefunded, "refunded": ch.amountRefunded == pi.amount,
		"captured": ch.status == "succeeded", "paid": ch.status == "succeeded",
		"status": ch.status, "currency": pi.currency,
		"customer": nullable(pi.customer), "payment_intent": pi.id,
		"payment_method": nullable(pi.method), "description": nullable(pi.description),
		// A PaymentIntent's charge carries its metadata.
		"metadata":     pi.metadata,
		"failure_code": nullable(ch.failureCode), "failure_message": nullable(ch.failureMessage),
		"disputed": false, "created": ch.created, "livemode": false,
	}
}

type refund struct {
	id             string
	charge         *charge
	amount         int64
	metadata       map[string]string
	reason         string
	idempotencyKey string
	created        int64
}

func (r *refund) json() map[string]any {
	return map[string]any{
		"id": r.id, "object": "refund", "amount": r.amount, "status": "succeeded",
		"charge": r.charge.id, "payment_intent": r.charge.pi.id,
		"currency": r.charge.pi.currency, "metadata": r.metadata,
		"reason": nullable(r.reason), "created": r.created,
	}
}

// newID makes an ID the way Stripe shapes them: a type prefix and 24
// random characters.
func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
