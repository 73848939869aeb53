// Package checkout is clnd's side of the payment providers' HTTP traffic:
// the pages a payer returns to from a redirect payment, the providers'
// webhooks (sandbox, PayPal, Stripe), and the sandbox provider's own
// payment page. The money rules live in internal/accounts.
package checkout

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"clnd/ent"
	"clnd/internal/accounts"
	"clnd/internal/clock"
	"clnd/internal/payments"
	"clnd/internal/payments/paypal"
)

// SignatureHeader carries the sandbox provider's signature.
const SignatureHeader = payments.SandboxSignatureHeader

// Tolerance is how old a signed sandbox webhook may be (against replays).
const Tolerance = payments.SandboxTolerance

// Event is what the sandbox provider sends.
type Event = payments.SandboxEvent

// Sign returns the sandbox signature header value for a body at a time.
func Sign(secret, body []byte, at time.Time) string { return payments.SignSandbox(secret, body, at) }

// Handler serves the providers' webhooks and the checkout pages.
type Handler struct {
	Accounts *accounts.Service
	// Provider is the configured checkout provider (sandbox or PayPal).
	Provider payments.CheckoutProvider
	// Stripe checks and parses Stripe's webhooks; nil without Stripe.
	Stripe StripeParser
	Clock  clock.Clock
	Log    *slog.Logger
}

// maxWebhookBody bounds what a provider may send.
const maxWebhookBody = 256 << 10

func (h *Handler) context(r *http.Request) context.Context {
	return clock.NewContext(r.Context(), h.Clock)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return nil, false
	}
	if len(body) > maxWebhookBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

// Webhook is POST /webhooks/payments/<provider> for the checkout provider
// (sandbox or PayPal). A verified event is acted on and answered 200;
// anything unverifiable is 400 and changes nothing. Acting is idempotent
// (captures are keyed, credits conditional), so a repeated or replayed
// event changes nothing more; the event is kept for operators once.
func (h *Handler) Webhook(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	ctx := h.context(r)
	ev, err := h.Provider.VerifyWebhook(ctx, r.Header, body)
	if errors.Is(err, paypal.ErrUnhandledEvent) {
		// Authentic, of a type clnd does not act on (PAYMENT.CAPTURE.PENDING):
		// a 400 would make PayPal redeliver it for days.
		w.WriteHeader(http.StatusOK)
		return
	}
	if err != nil {
		http.Error(w, "unverified event: "+err.Error(), http.StatusBadRequest)
		return
	}
	seen, err := h.Accounts.SeenGatewayEvent(ctx, h.Provider.Name(), ev.ID)
	if err == nil && !seen {
		err = h.applyCheckoutEvent(ctx, ev)
	}
	if err != nil {
		h.Log.ErrorContext(ctx, "applying a payment webhook", "provider", h.Provider.Name(), "event", ev.ID, "type", ev.Type, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError) // the provider retries
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) applyCheckoutEvent(ctx context.Context, ev payments.WebhookEvent) error {
	rec := accounts.GatewayEventRecord{Provider: h.Provider.Name(), EventID: ev.ID, Type: ev.Type, Reference: ev.OrderID}
	if ev.CaptureID != "" {
		rec.Reference = ev.CaptureID
	}
	if ev.Amount != 0 {
		rec.Amount = &ev.Amount
	}
	c, err := h.Accounts.CheckoutByOrder(ctx, h.Provider.Name(), ev.OrderID)
	if ent.IsNotFound(err) {
		rec.Summary = "no checkout has this order; ignored"
		return h.Accounts.RecordGatewayEvent(ctx, rec)
	}
	if err != nil {
		return err // answered 500: the provider sends it again
	}
	rec.ResellerID = c.ResellerID
	switch ev.Type {
	case "checkout.completed": // the sandbox: the payer clicked Pay
		if sb, ok := h.Provider.(*payments.SandboxCheckout); ok {
			if err := sb.Approve(ctx, ev.OrderID); err != nil {
				return err
			}
		}
		fallthrough
	case "CHECKOUT.ORDER.APPROVED":
		after, err := h.Accounts.CaptureCheckout(ctx, c.ID)
		if err != nil {
			return err
		}
		rec.Summary = "checkout " + c.ID + " is " + string(after.Status)
	case "PAYMENT.CAPTURE.COMPLETED":
		// Also the end of a capture PayPal held (PENDING), which no retry
		// of the capture call would ever report.
		after, err := h.Accounts.CheckoutCaptured(ctx, c.ID, ev.CaptureID)
		if err != nil {
			return err
		}
		rec.Summary = "checkout " + c.ID + " is " + string(after.Status)
	case "checkout.canceled":
		after, err := h.Accounts.CancelCheckout(ctx, c.ID)
		if err != nil {
			return err
		}
		rec.Summary = "checkout " + c.ID + " is " + string(after.Status)
	default:
		rec.Summary = "recorded"
	}
	return h.Accounts.RecordGatewayEvent(ctx, rec)
}
