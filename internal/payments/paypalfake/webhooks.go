package paypalfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// transmission is a webhook delivery the fake signed: verification
// succeeds only for exactly these headers, this body and this webhook.
type transmission struct {
	header    http.Header
	body      []byte
	webhookID string
}

// The headers PayPal signs a delivery with.
var transmissionHeaders = map[string]string{
	"auth_algo":         "PAYPAL-AUTH-ALGO",
	"cert_url":          "PAYPAL-CERT-URL",
	"transmission_id":   "PAYPAL-TRANSMISSION-ID",
	"transmission_sig":  "PAYPAL-TRANSMISSION-SIG",
	"transmission_time": "PAYPAL-TRANSMISSION-TIME",
}

// webhookEvent is PayPal's event envelope, fields in PayPal's order.
type webhookEvent struct {
	ID              string              `json:"id"`
	EventVersion    string              `json:"event_version"`
	CreateTime      string              `json:"create_time"`
	ResourceType    string              `json:"resource_type"`
	ResourceVersion string              `json:"resource_version"`
	EventType       string              `json:"event_type"`
	Summary         string              `json:"summary"`
	Resource        any                 `json:"resource"`
	Links           []map[string]string `json:"links"`
}

// Webhook builds a signed delivery of a new event (a fresh event ID) of
// type eventType about resource (see OrderResource, CaptureResource,
// RefundResource), as PayPal would POST it to the webhook's URL.
func (f *Fake) Webhook(eventType string, resource any) (http.Header, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := f.signLocked(eventType, resource)
	return ev.header, ev.body
}

// signedEvent is an event and the transmission headers it is sent with.
type signedEvent struct {
	id, eventType string
	header        http.Header
	body          []byte
}

// signLocked builds and remembers a delivery; f.mu is held.
func (f *Fake) signLocked(eventType string, resource any) signedEvent {
	id := "WH-" + randomID(17) + "-" + randomID(17)
	ev := webhookEvent{
		ID: id, EventVersion: "1.0", CreateTime: time.Now().UTC().Format(time.RFC3339Nano),
		ResourceType: resourceType(eventType), ResourceVersion: "2.0",
		EventType: eventType, Summary: "Event " + eventType,
		Resource: resource,
		Links: []map[string]string{
			{"href": f.URL + "/v1/notifications/webhooks-events/" + id, "rel": "self", "method": "GET"},
			{"href": f.URL + "/v1/notifications/webhooks-events/" + id + "/resend", "rel": "resend", "method": "POST"},
		},
	}
	// Like PayPal, no HTML escaping: "&" stays "&", so a receiver that
	// re-encodes the event before verifying it changes its bytes.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		panic(fmt.Sprintf("paypalfake: webhook resource: %v", err))
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	sig := make([]byte, 256)
	for i := range sig {
		sig[i] = byte(rand.IntN(256))
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("PAYPAL-AUTH-ALGO", "SHA256withRSA")
	h.Set("PAYPAL-CERT-URL", f.URL+"/v1/notifications/certs/CERT-360caa42-fca2a594-"+strings.ToLower(randomID(8)))
	h.Set("PAYPAL-TRANSMISSION-ID", strings.ToLower(randomID(8)+"-"+randomID(4)+"-11f0-"+randomID(4)+"-"+randomID(12)))
	h.Set("PAYPAL-TRANSMISSION-SIG", base64.StdEncoding.EncodeToString(sig))
	h.Set("PAYPAL-TRANSMISSION-TIME", time.Now().UTC().Format(time.RFC3339))
	f.sent[h.Get("PAYPAL-TRANSMISSION-ID")] = transmission{header: h.Clone(), body: body, webhookID: f.WebhookID}
	return signedEvent{id: id, eventType: eventType, header: h, body: body}
}

func resourceType(eventType string) string {
	switch {
	case strings.HasPrefix(eventType, "CHECKOUT.ORDER."):
		return "checkout-order"
	case eventType == "PAYMENT.CAPTURE.REFUNDED":
		return "refund"
	case strings.HasPrefix(eventType, "PAYMENT.CAPTURE."):
		return "capture"
	}
	return "unknown"
}

// Send builds a new event (Webhook) and POSTs it to url, answering the
// receiver's HTTP status.
func (f *Fake) Send(url, eventType string, resource any) (int, error) {
	h, body := f.Webhook(eventType, resource)
	return Deliver(url, h, body)
}

// Deliver POSTs a delivery to url: to replay one, or to send a forged or
// tampered one.
func Deliver(url string, header http.Header, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = header.Clone()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// OrderResource is order orderID as CHECKOUT.ORDER.* events carry it, or
// nil if there is no such order.
func (f *Fake) OrderResource(orderID string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[orderID]
	if !ok {
		return nil
	}
	return f.orderJSON(o)
}

// CaptureResource is capture captureID as PAYMENT.CAPTURE.COMPLETED and
// DENIED carry it (with the order in supplementary_data), or nil.
func (f *Fake) CaptureResource(captureID string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.captures[captureID]
	if !ok {
		return nil
	}
	return f.captureResource(c)
}

func (f *Fake) captureResource(c *Capture) map[string]any {
	out := f.captureJSON(c)
	out["supplementary_data"] = map[string]any{"related_ids": map[string]string{"order_id": c.OrderID}}
	return out
}

// RefundResource is refund refundID as PAYMENT.CAPTURE.REFUNDED carries it
// (the capture is its "up" link), or nil.
func (f *Fake) RefundResource(refundID string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.refunds {
		if r.ID == refundID {
			return f.refundJSON(r)
		}
	}
	return nil
}

// verifySignature is POST /v1/notifications/verify-webhook-signature. The
// fake cannot check a real RSA signature, so it answers SUCCESS only for a
// delivery it made itself, unchanged, against its own webhook ID: a forged
// event, a tampered body or header, or another webhook's ID is FAILURE.
func (f *Fake) verifySignature(_ *http.Request, body []byte) answer {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON", err.Error())
	}
	str := func(name string) string {
		var s string
		_ = json.Unmarshal(req[name], &s)
		return s
	}
	for _, name := range []string{"auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id", "webhook_event"} {
		if len(req[name]) == 0 || (name != "webhook_event" && str(name) == "") {
			return apiError(http.StatusBadRequest, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER", name+" is required.")
		}
	}
	sent, ok := f.sent[str("transmission_id")]
	verified := ok && str("webhook_id") == f.WebhookID && sent.webhookID == f.WebhookID &&
		bytes.Equal(req["webhook_event"], sent.body) // the event exactly as sent
	for field, header := range transmissionHeaders {
		verified = verified && str(field) == sent.header.Get(header)
	}
	status := "FAILURE"
	if verified {
		status = "SUCCESS"
	}
	return jsonAnswer(http.StatusOK, map[string]string{"verification_status": status})
}
