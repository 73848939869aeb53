package stripefake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// Event renders obj as the data of a Stripe event of type typ
// (https://docs.stripe.com/api/events/object), with a fresh evt_ ID.
func (f *Fake) Event(typ string, obj any) []byte {
	return f.event(typ, obj, "")
}

func (f *Fake) event(typ string, obj any, idempotencyKey string) []byte {
	var key any
	if idempotencyKey != "" {
		key = idempotencyKey
	}
	body, err := json.Marshal(map[string]any{
		"id": newID("evt"), "object": "event", "type": typ,
		"api_version": stripe.APIVersion, "created": f.now().Unix(),
		"data":     map[string]any{"object": obj},
		"livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": newID("req"), "idempotency_key": key},
	})
	if err != nil {
		panic(err) // obj is the caller's test data
	}
	return body
}

// emit records an event the API raised; f.mu is held.
func (f *Fake) emit(typ string, obj map[string]any, idempotencyKey string) {
	body := f.event(typ, obj, idempotencyKey)
	f.events = append(f.events, body)
	if f.webhookURL != "" {
		f.outbox = append(f.outbox, body)
	}
}

// Events lists the events the fake raised so far, oldest first:
// payment_intent.succeeded and payment_intent.payment_failed on charges,
// charge.refunded on refunds, charge.dispute.created on Dispute.
func (f *Fake) Events() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.events...)
}

// SignedHeader signs body now, as Stripe's Stripe-Signature header.
func (f *Fake) SignedHeader(body []byte) string {
	return f.SignedHeaderAt(body, time.Now())
}

// SignedHeaderAt signs body as sent at t: "t=<unix>,v1=<hex HMAC-SHA256 of
// "<unix>.<body>" keyed with the endpoint secret>"
// (https://docs.stripe.com/webhooks#verify-manually).
func (f *Fake) SignedHeaderAt(body []byte, t time.Time) string {
	mac := hmac.New(sha256.New, []byte(f.WebhookSecret))
	fmt.Fprintf(mac, "%d.%s", t.Unix(), body)
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(mac.Sum(nil)))
}

// Post delivers body to url as Stripe does, signed now.
func (f *Fake) Post(url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", f.SignedHeader(body))
	return http.DefaultClient.Do(req)
}

// Send delivers a new event of type typ about obj to url.
func (f *Fake) Send(url, typ string, obj any) (*http.Response, error) {
	return f.Post(url, f.Event(typ, obj))
}

// Dispute opens a dispute on the charge of PaymentIntent piID, raises
// charge.dispute.created and returns the dispute object.
func (f *Fake) Dispute(piID, reason string) (map[string]any, error) {
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	pi, ok := f.intents[piID]
	if !ok || pi.status != "succeeded" {
		return nil, fmt.Errorf("stripefake: no succeeded PaymentIntent %q to dispute", piID)
	}
	d := map[string]any{
		"id": newID("dp"), "object": "dispute", "amount": pi.amount,
		"currency": pi.currency, "charge": pi.charge.id, "payment_intent": pi.id,
		"reason": reason, "status": "needs_response", "metadata": map[string]string{},
		"created": f.now().Unix(), "livemode": false,
	}
	f.emit("charge.dispute.created", d, "")
	return d, nil
}

// PaymentIntentObject is PaymentIntent id as the API renders it now, for
// events a test builds itself.
func (f *Fake) PaymentIntentObject(id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pi, ok := f.intents[id]
	if !ok {
		return nil, false
	}
	return pi.json(), true
}

// ChargeObject is the latest charge of PaymentIntent piID as the API
// renders it now.
func (f *Fake) ChargeObject(piID string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pi, ok := f.intents[piID]
	if !ok || pi.charge == nil {
		return nil, false
	}
	return pi.charge.json(), true
}
