package paypal_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"clnd/internal/payments"
	"clnd/internal/payments/paypal"
	"clnd/internal/payments/paypalfake"
)

// captured runs an order to a capture and answers the order and capture IDs.
func captured(t *testing.T, f *paypalfake.Fake, p *paypal.Provider) (orderID, captureID string) {
	t.Helper()
	o := approved(t, f, p, "co_1", "12.34")
	c, err := p.Capture(ctx, o.ID, "pa_1")
	if err != nil {
		t.Fatal(err)
	}
	return o.ID, c.ID
}

func TestWebhooksVerifiedAndParsed(t *testing.T) {
	f, p := start(t)
	orderID, captureID := captured(t, f, p)
	refund, err := p.Refund(ctx, payments.RefundRequest{Key: "re_1", ChargeID: captureID, Amount: 234})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		eventType string
		resource  map[string]any
		want      payments.WebhookEvent
	}{
		{paypal.EventOrderApproved, f.OrderResource(orderID), payments.WebhookEvent{OrderID: orderID, Amount: 1234}},
		{paypal.EventCaptureComplete, f.CaptureResource(captureID), payments.WebhookEvent{OrderID: orderID, CaptureID: captureID, Amount: 1234}},
		{paypal.EventCaptureDenied, f.CaptureResource(captureID), payments.WebhookEvent{OrderID: orderID, CaptureID: captureID, Amount: 1234}},
		{paypal.EventCaptureRefunded, f.RefundResource(refund.ID), payments.WebhookEvent{CaptureID: captureID, Amount: 234}},
		{paypal.EventCaptureRefunded, map[string]any{
			"id": "1JU08902781691411", "status": "COMPLETED", "amount": map[string]string{"currency_code": "USD", "value": "2.34"},
			"supplementary_data": map[string]any{"related_ids": map[string]string{"capture_id": captureID}},
		}, payments.WebhookEvent{CaptureID: captureID, Amount: 234}},
	} {
		h, body := f.Webhook(tc.eventType, tc.resource)
		got, err := p.VerifyWebhook(ctx, h, body)
		if err != nil {
			t.Fatalf("%s: %v", tc.eventType, err)
		}
		tc.want.Type = tc.eventType
		tc.want.ID = got.ID
		if got != tc.want || got.ID == "" {
			t.Fatalf("%s: %+v, want %+v", tc.eventType, got, tc.want)
		}
	}
}

// PayPal's signature covers the body as it was sent; an adapter that
// decoded and re-encoded it ("&" becomes "\u0026") would fail every event.
func TestWebhookBodyGoesBackVerbatim(t *testing.T) {
	f, p := start(t)
	r := orderRequest("co_1", "12.34")
	r.Description = "Seats & <licenses> for \"Acme\""
	o, err := p.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	h, body := f.Webhook(paypal.EventOrderApproved, f.OrderResource(o.ID))
	if !bytes.Contains(body, []byte("Seats & <licenses>")) {
		t.Fatalf("the fake should send the description unescaped: %s", body)
	}
	if _, err := p.VerifyWebhook(ctx, h, body); err != nil {
		t.Fatal(err)
	}
}

func TestForgedAndTamperedWebhooksFail(t *testing.T) {
	f, p := start(t)
	orderID, captureID := captured(t, f, p)
	h, body := f.Webhook(paypal.EventCaptureComplete, f.CaptureResource(captureID))

	forgedHeader := h.Clone()
	forgedHeader.Set("PAYPAL-TRANSMISSION-ID", "a5d6b8e0-1f3c-11f0-9d4c-5f0c3f2a7b11")
	otherSig := h.Clone()
	otherSig.Set("PAYPAL-TRANSMISSION-SIG", "c2lnbmF0dXJl")
	_, otherBody := f.Webhook(paypal.EventOrderApproved, f.OrderResource(orderID)) // authentic, but not for h
	tampered := bytes.Replace(body, []byte(`"value":"12.34"`), []byte(`"value":"99.99"`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("test setup: amount not found in the body")
	}

	for name, d := range map[string]struct {
		h    http.Header
		body []byte
	}{
		"unknown transmission": {forgedHeader, body},
		"other signature":      {otherSig, body},
		"other event's body":   {h, otherBody},
		"amount changed":       {h, tampered},
	} {
		if ev, err := p.VerifyWebhook(ctx, d.h, d.body); err == nil {
			t.Errorf("%s: verified as %+v", name, ev)
		}
	}

	// Verified against another webhook's ID, nothing verifies.
	other := paypal.New(paypal.Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, WebhookID: "8PT597110X687430LKGECATA", APIURL: f.URL})
	if _, err := other.VerifyWebhook(ctx, h, body); err == nil {
		t.Error("verified against another webhook ID")
	}
	// The genuine delivery still verifies.
	if _, err := p.VerifyWebhook(ctx, h, body); err != nil {
		t.Fatal(err)
	}
}

// A replayed delivery is authentic: it verifies again with the same event
// ID, which is what the caller dedupes on.
func TestReplayedWebhookHasTheSameEventID(t *testing.T) {
	f, p := start(t)
	_, captureID := captured(t, f, p)
	h, body := f.Webhook(paypal.EventCaptureComplete, f.CaptureResource(captureID))
	first, err := p.VerifyWebhook(ctx, h, body)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.VerifyWebhook(ctx, h, body)
	if err != nil || again != first {
		t.Fatalf("replay: %+v, %v; first %+v", again, err, first)
	}
}

func TestUnhandledEventType(t *testing.T) {
	f, p := start(t)
	_, captureID := captured(t, f, p)
	h, body := f.Webhook("PAYMENT.CAPTURE.REVERSED", f.CaptureResource(captureID))
	_, err := p.VerifyWebhook(ctx, h, body)
	if !errors.Is(err, paypal.ErrUnhandledEvent) {
		t.Fatalf("got %v, want ErrUnhandledEvent", err)
	}
}

func TestWebhookMissingHeadersNeverReachPayPal(t *testing.T) {
	f, p := start(t)
	orderID, _ := captured(t, f, p)
	h, body := f.Webhook(paypal.EventOrderApproved, f.OrderResource(orderID))
	calls := f.APICalls()
	for _, name := range []string{"PAYPAL-AUTH-ALGO", "PAYPAL-CERT-URL", "PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-SIG", "PAYPAL-TRANSMISSION-TIME"} {
		missing := h.Clone()
		missing.Del(name)
		if _, err := p.VerifyWebhook(ctx, missing, body); err == nil {
			t.Errorf("verified without %s", name)
		}
	}
	for _, junk := range []string{"", "not json", `{"id":"WH-1"}`, `[1,2]`} {
		if _, err := p.VerifyWebhook(ctx, h, []byte(junk)); err == nil {
			t.Errorf("verified body %q", junk)
		}
	}
	if f.APICalls() != calls {
		t.Fatalf("%d calls to PayPal for deliveries that cannot be genuine", f.APICalls()-calls)
	}
}

func TestWebhookVerificationOutageIsAnError(t *testing.T) {
	f, p := start(t)
	orderID, _ := captured(t, f, p)
	h, body := f.Webhook(paypal.EventOrderApproved, f.OrderResource(orderID))
	f.FailNext(1, 500)
	if _, err := p.VerifyWebhook(ctx, h, body); err == nil {
		t.Fatal("verified while PayPal was down")
	}
}

// The shape of clnd's webhook route, over real HTTP: verify, answer 400 to
// anything that does not verify, act once per event ID (clnd does that in
// its database; a map stands in for it here).
func TestWebhookDeliveredOverHTTP(t *testing.T) {
	f, p := start(t)
	_, captureID := captured(t, f, p)
	var mu sync.Mutex
	actedOn := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := p.VerifyWebhook(r.Context(), r.Header, body)
		if err != nil {
			http.Error(w, "not verified", http.StatusBadRequest)
			return
		}
		mu.Lock()
		actedOn[ev.ID]++
		mu.Unlock()
	}))
	defer srv.Close()

	h, body := f.Webhook(paypal.EventCaptureComplete, f.CaptureResource(captureID))
	for i := 0; i < 2; i++ { // delivered, then replayed
		if status, err := paypalfake.Deliver(srv.URL, h, body); err != nil || status != http.StatusOK {
			t.Fatalf("delivery %d: %d, %v", i, status, err)
		}
	}
	forged := bytes.Replace(body, []byte(captureID), []byte("0JF852973C016714D"), 1)
	if status, _ := paypalfake.Deliver(srv.URL, h, forged); status != http.StatusBadRequest {
		t.Fatalf("forged delivery answered %d", status)
	}
	if status, _ := f.Send(srv.URL, paypal.EventOrderApproved, f.OrderResource("unknown")); status != http.StatusBadRequest {
		t.Fatalf("an event naming no order answered %d", status)
	}
	for id, n := range actedOn {
		if len(actedOn) != 1 || n != 2 {
			t.Fatalf("events verified: %v, want one event ID, verified twice (%s)", actedOn, id)
		}
	}
	if len(actedOn) == 0 {
		t.Fatal("nothing verified")
	}
}

func TestWebhookInAnotherCurrencyIsRefused(t *testing.T) {
	f, p := start(t)
	h, body := f.Webhook(paypal.EventCaptureComplete, map[string]any{
		"id": "2GG279541U471931P", "status": "COMPLETED", "amount": map[string]string{"currency_code": "EUR", "value": "12.34"},
		"supplementary_data": map[string]any{"related_ids": map[string]string{"order_id": "5O190127TN364715T"}},
	})
	if ev, err := p.VerifyWebhook(ctx, h, body); err == nil {
		t.Fatalf("euros read as %+v", ev)
	}
}
