package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"clnd/internal/payments"
)

// The webhook event types clnd acts on.
const (
	EventOrderApproved   = "CHECKOUT.ORDER.APPROVED"
	EventCaptureComplete = "PAYMENT.CAPTURE.COMPLETED"
	EventCaptureDenied   = "PAYMENT.CAPTURE.DENIED"
	EventCaptureRefunded = "PAYMENT.CAPTURE.REFUNDED"
)

// ErrUnhandledEvent is wrapped by VerifyWebhook for an authentic event of a
// type clnd does not act on. The caller may answer it 2xx so that PayPal
// stops redelivering it.
var ErrUnhandledEvent = errors.New("paypal: unhandled webhook event type")

// The transmission headers PayPal signs a notification with, in the order
// of verifyRequest's fields.
var transmissionHeaders = []string{
	"PAYPAL-AUTH-ALGO", "PAYPAL-CERT-URL", "PAYPAL-TRANSMISSION-ID",
	"PAYPAL-TRANSMISSION-SIG", "PAYPAL-TRANSMISSION-TIME",
}

// verifyRequest is the body of POST /v1/notifications/verify-webhook-signature
// without webhook_event, which is appended verbatim (see VerifyWebhook).
type verifyRequest struct {
	AuthAlgo         string `json:"auth_algo"`
	CertURL          string `json:"cert_url"`
	TransmissionID   string `json:"transmission_id"`
	TransmissionSig  string `json:"transmission_sig"`
	TransmissionTime string `json:"transmission_time"`
	WebhookID        string `json:"webhook_id"`
}

type event struct {
	ID        string          `json:"id"`
	EventType string          `json:"event_type"`
	Resource  json.RawMessage `json:"resource"`
}

// VerifyWebhook implements payments.CheckoutProvider. PayPal itself checks
// the signature (verify-webhook-signature) against the configured webhook
// ID; only a SUCCESS answer is trusted. The same event delivered twice
// verifies twice: acting on an event ID once is the caller's job.
func (p *Provider) VerifyWebhook(ctx context.Context, header http.Header, body []byte) (payments.WebhookEvent, error) {
	values := make([]string, len(transmissionHeaders))
	for i, name := range transmissionHeaders {
		if values[i] = header.Get(name); values[i] == "" {
			return payments.WebhookEvent{}, fmt.Errorf("paypal: webhook without %s header", name)
		}
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.EventType == "" {
		return payments.WebhookEvent{}, errors.New("paypal: webhook body is not a PayPal event")
	}

	// The event goes back to PayPal byte for byte: the signature covers the
	// body as sent, and re-encoding it (escaping, key order, spacing) would
	// make an authentic event fail verification.
	fields, err := json.Marshal(verifyRequest{
		AuthAlgo: values[0], CertURL: values[1], TransmissionID: values[2],
		TransmissionSig: values[3], TransmissionTime: values[4], WebhookID: p.webhookID,
	})
	if err != nil {
		return payments.WebhookEvent{}, err
	}
	var req bytes.Buffer
	req.Write(fields[:len(fields)-1]) // without the closing brace
	req.WriteString(`,"webhook_event":`)
	req.Write(bytes.TrimSpace(body))
	req.WriteString("}")

	var ans struct {
		VerificationStatus string `json:"verification_status"`
	}
	if err := p.call(ctx, http.MethodPost, "/v1/notifications/verify-webhook-signature", "", req.Bytes(), &ans); err != nil {
		return payments.WebhookEvent{}, fmt.Errorf("paypal: verifying webhook %s: %w", ev.ID, err)
	}
	if ans.VerificationStatus != "SUCCESS" {
		return payments.WebhookEvent{}, fmt.Errorf("paypal: webhook %s failed verification (%s)", ev.ID, ans.VerificationStatus)
	}
	return parseEvent(ev)
}

// parseEvent reduces a verified event to what clnd acts on.
func parseEvent(ev event) (payments.WebhookEvent, error) {
	out := payments.WebhookEvent{ID: ev.ID, Type: ev.EventType}
	var err error
	switch ev.EventType {
	case EventOrderApproved:
		var o order
		if err = json.Unmarshal(ev.Resource, &o); err != nil {
			break
		}
		out.OrderID = o.ID
		if len(o.PurchaseUnits) > 0 {
			out.Amount, err = o.PurchaseUnits[0].Amount.cents()
		}
	case EventCaptureComplete, EventCaptureDenied:
		var c capture
		if err = json.Unmarshal(ev.Resource, &c); err != nil {
			break
		}
		out.CaptureID, out.OrderID = c.ID, c.SupplementaryData.RelatedIDs.OrderID
		out.Amount, err = c.Amount.cents()
	case EventCaptureRefunded:
		// The resource is the refund; the refunded capture is its "up"
		// link (or, in some deliveries, supplementary_data.related_ids).
		var r capture
		if err = json.Unmarshal(ev.Resource, &r); err != nil {
			break
		}
		out.CaptureID = r.SupplementaryData.RelatedIDs.CaptureID
		if up := linkHref(r.Links, "up"); up != "" {
			out.CaptureID = lastPathSegment(up)
		}
		out.OrderID = r.SupplementaryData.RelatedIDs.OrderID
		out.Amount, err = r.Amount.cents()
	default:
		return payments.WebhookEvent{}, fmt.Errorf("%w: %s (event %s)", ErrUnhandledEvent, ev.EventType, ev.ID)
	}
	if err == nil && out.OrderID == "" && out.CaptureID == "" {
		err = errors.New("names no order or capture")
	}
	if err != nil {
		return payments.WebhookEvent{}, fmt.Errorf("paypal: webhook %s (%s): %w", ev.ID, ev.EventType, err)
	}
	return out, nil
}

func lastPathSegment(href string) string {
	href, _, _ = strings.Cut(href, "?")
	return href[strings.LastIndex(href, "/")+1:]
}
