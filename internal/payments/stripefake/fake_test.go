package stripefake_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"clnd/internal/payments/stripefake"
)

// call sends a raw API request, the way any Stripe client would.
func call(t *testing.T, f *stripefake.Fake, method, path, key, idempotencyKey string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res, body
}

func errorOf(body map[string]any) map[string]any {
	e, _ := body["error"].(map[string]any)
	return e
}

func TestRequestsNeedTheSecretKey(t *testing.T) {
	f := stripefake.New(t)
	for _, key := range []string{"", "sk_test_other"} {
		res, body := call(t, f, "POST", "/v1/customers", key, "", url.Values{"email": {"a@b.test"}})
		if res.StatusCode != 401 || errorOf(body)["type"] != "invalid_request_error" {
			t.Errorf("key %q: %d %v, want 401 invalid_request_error", key, res.StatusCode, body)
		}
	}
	if n := len(f.Customers()); n != 0 {
		t.Errorf("%d customers created without the key", n)
	}
}

func TestIdempotencyKeysReplayOrConflict(t *testing.T) {
	f := stripefake.New(t)
	form := url.Values{"amount": {"2000"}, "currency": {"usd"}, "payment_method": {"pm_card_visa"},
		"confirm": {"true"}, "off_session": {"true"}}
	res1, pi1 := call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", form)
	res2, pi2 := call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", form)
	if res1.StatusCode != 200 || res2.StatusCode != 200 || pi1["id"] != pi2["id"] || pi1["status"] != "succeeded" {
		t.Fatalf("same key twice: %d %v / %d %v", res1.StatusCode, pi1, res2.StatusCode, pi2)
	}
	if res1.Header.Get("Idempotent-Replayed") != "" || res2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed = %q then %q, want none then true",
			res1.Header.Get("Idempotent-Replayed"), res2.Header.Get("Idempotent-Replayed"))
	}
	form.Set("amount", "3000")
	res3, body := call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", form)
	if res3.StatusCode != 400 || errorOf(body)["type"] != "idempotency_error" {
		t.Errorf("same key, other amount: %d %v, want 400 idempotency_error", res3.StatusCode, body)
	}
	if n := len(f.Charges()); n != 1 {
		t.Errorf("%d charges, want 1", n)
	}
}

// A validation error is not saved for the key: the corrected request with
// the same key runs.
func TestAValidationErrorFreesTheKey(t *testing.T) {
	f := stripefake.New(t)
	form := url.Values{"amount": {"20"}, "currency": {"usd"}, "payment_method": {"pm_card_visa"}, "confirm": {"true"}}
	res, body := call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", form)
	if res.StatusCode != 400 || errorOf(body)["code"] != "amount_too_small" {
		t.Fatalf("20 cents: %d %v, want 400 amount_too_small", res.StatusCode, body)
	}
	form.Set("amount", "2000")
	if res, body := call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", form); res.StatusCode != 200 {
		t.Fatalf("corrected: %d %v", res.StatusCode, body)
	}
}

func TestTestCardsBehaveLikeStripes(t *testing.T) {
	f := stripefake.New(t)
	pay := func(pm string, offSession bool) (*http.Response, map[string]any) {
		form := url.Values{"amount": {"2000"}, "currency": {"usd"}, "payment_method": {pm}, "confirm": {"true"}}
		if offSession {
			form.Set("off_session", "true")
		}
		return call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "", form)
	}

	res, body := pay("pm_card_chargeDeclined", true)
	e := errorOf(body)
	pi, _ := e["payment_intent"].(map[string]any)
	if res.StatusCode != 402 || e["type"] != "card_error" || e["code"] != "card_declined" ||
		e["decline_code"] != "generic_decline" || pi["status"] != "requires_payment_method" {
		t.Errorf("declined card: %d %v", res.StatusCode, body)
	}

	res, body = pay("pm_card_authenticationRequired", true)
	e = errorOf(body)
	pi, _ = e["payment_intent"].(map[string]any)
	if res.StatusCode != 402 || e["code"] != "authentication_required" || pi["client_secret"] == nil {
		t.Errorf("3-D Secure card off session: %d %v", res.StatusCode, body)
	}
	res, body = pay("pm_card_authenticationRequired", false)
	if res.StatusCode != 200 || body["status"] != "requires_action" || body["next_action"] == nil {
		t.Errorf("3-D Secure card on session: %d %v", res.StatusCode, body)
	}

	res, body = pay("pm_unknown", true)
	if res.StatusCode != 400 || errorOf(body)["code"] != "resource_missing" {
		t.Errorf("unknown method: %d %v", res.StatusCode, body)
	}
	res, body = call(t, f, "GET", "/v1/payment_methods/pm_unknown", f.SecretKey, "", nil)
	if res.StatusCode != 404 || errorOf(body)["code"] != "resource_missing" {
		t.Errorf("GET unknown method: %d %v", res.StatusCode, body)
	}
	res, body = call(t, f, "POST", "/v1/charges", f.SecretKey, "", nil)
	if res.StatusCode != 404 {
		t.Errorf("an endpoint the fake lacks: %d %v, want 404", res.StatusCode, body)
	}
}

// The fake signs as Stripe documents it, checked here against stripe-go's
// own verification.
func TestEventsAreSignedAsStripeSignsThem(t *testing.T) {
	f := stripefake.New(t)
	body := f.Event("payment_intent.succeeded", map[string]any{"id": "pi_1"})
	ev, err := webhook.ConstructEvent(body, f.SignedHeader(body), f.WebhookSecret)
	if err != nil || ev.Type != "payment_intent.succeeded" || !strings.HasPrefix(ev.ID, "evt_") {
		t.Fatalf("ConstructEvent = %+v, %v", ev, err)
	}
	old := f.SignedHeaderAt(body, time.Now().Add(-time.Hour))
	if _, err := webhook.ConstructEvent(body, old, f.WebhookSecret); err != webhook.ErrTooOld {
		t.Errorf("an hour-old signature: %v, want ErrTooOld", err)
	}
}

func TestSendDeliversASignedEvent(t *testing.T) {
	f := stripefake.New(t)
	got := make(chan error, 1)
	hook := newHook(t, func(r *http.Request, body []byte) {
		_, err := webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), f.WebhookSecret)
		got <- err
	})
	res, err := f.Send(hook, "charge.refunded", map[string]any{"id": "ch_1", "object": "charge"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("Send = %v, %v", res, err)
	}
	res.Body.Close()
	if err := <-got; err != nil {
		t.Errorf("the endpoint could not verify it: %v", err)
	}
}

func TestObjectsForHandMadeEvents(t *testing.T) {
	f := stripefake.New(t)
	form := url.Values{"amount": {"2000"}, "currency": {"usd"}, "payment_method": {"pm_card_visa"},
		"confirm": {"true"}, "off_session": {"true"}, "metadata[attempt_id]": {"pat_1"}}
	_, pi := call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", form)
	id, _ := pi["id"].(string)

	obj, ok := f.PaymentIntentObject(id)
	if !ok || obj["status"] != "succeeded" || obj["latest_charge"] == nil {
		t.Errorf("PaymentIntentObject = %v", obj)
	}
	ch, ok := f.ChargeObject(id)
	if !ok || ch["payment_intent"] != id || ch["amount"] != int64(2000) ||
		ch["metadata"].(map[string]string)["attempt_id"] != "pat_1" {
		t.Errorf("ChargeObject = %v", ch)
	}
	if _, ok := f.PaymentIntentObject("pi_nope"); ok {
		t.Error("PaymentIntentObject(pi_nope) found something")
	}
}

func TestRaisedEventsArePostedToTheEndpoint(t *testing.T) {
	f := stripefake.New(t)
	received := make(chan string, 10)
	f.SendEventsTo(newHook(t, func(r *http.Request, body []byte) {
		ev, err := webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), f.WebhookSecret)
		if err != nil {
			t.Errorf("delivery does not verify: %v", err)
		}
		received <- string(ev.Type)
	}))
	pay := url.Values{"amount": {"2000"}, "currency": {"usd"}, "payment_method": {"pm_card_visa"},
		"confirm": {"true"}, "off_session": {"true"}}
	_, pi := call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", pay)
	// The event was posted before the API answered.
	if got := <-received; got != "payment_intent.succeeded" {
		t.Errorf("first delivery %s", got)
	}
	call(t, f, "POST", "/v1/payment_intents", f.SecretKey, "k1", pay) // a replay raises nothing
	call(t, f, "POST", "/v1/refunds", f.SecretKey, "r1", url.Values{"payment_intent": {pi["id"].(string)}})
	if got := <-received; got != "charge.refunded" {
		t.Errorf("second delivery %s", got)
	}
	d := f.Deliveries()
	if len(d) != 2 || d[0].Status != 200 || d[1].Type != "charge.refunded" {
		t.Errorf("deliveries = %+v", d)
	}
}
