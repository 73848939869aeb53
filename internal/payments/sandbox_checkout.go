package payments

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"clnd/ent"
	"clnd/ent/sandboxpayment"
	"clnd/internal/clock"
	"clnd/internal/ids"
	"clnd/internal/viewer"
)

// SandboxCheckout is the sandbox's redirect payment provider, shaped like
// PayPal's: an order is opened, approved on clnd's own sandbox page (the
// payer clicks Pay), and captured once. Its webhooks are signed with an
// HMAC like Stripe's (SandboxSignatureHeader).
type SandboxCheckout struct {
	*Sandbox
	Secret []byte
}

// SandboxSignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">".
const SandboxSignatureHeader = "Clnd-Signature"

// SandboxTolerance is how old a signed sandbox webhook may be (against replays).
const SandboxTolerance = 5 * time.Minute

// SandboxEvent is what the sandbox provider sends: checkout.completed (the
// payer approved) or checkout.canceled.
type SandboxEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Checkout string `json:"checkout"`
}

// Create implements CheckoutProvider. The order's ID is the checkout's, and
// the approve page is clnd's own (ApproveURL "" says so).
func (c *SandboxCheckout) Create(ctx context.Context, r OrderRequest) (Order, error) {
	if r.Amount <= 0 {
		return Order{}, &Failure{Outcome: Rejected, Code: "INVALID_AMOUNT"}
	}
	p, err := c.remember(ctx, &ent.SandboxPayment{ID: r.Key, Kind: sandboxpayment.KindORDER, Ref: r.Key, Amount: r.Amount, Result: r.Key})
	if err != nil {
		return Order{}, err
	}
	return Order{ID: p.Result}, nil
}

// Approve is the payer clicking Pay on the sandbox page.
func (c *SandboxCheckout) Approve(ctx context.Context, orderID string) error {
	if c.Client == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if p, ok := c.mem[orderID]; ok && p.Kind == sandboxpayment.KindORDER {
			p.Approved = true
			return nil
		}
		return fmt.Errorf("sandbox: no order %q", orderID)
	}
	n, err := c.Client.SandboxPayment.Update().
		Where(sandboxpayment.ID(orderID), sandboxpayment.KindEQ(sandboxpayment.KindORDER)).
		SetApproved(true).
		Save(viewer.SystemContext(ctx))
	if err == nil && n == 0 {
		err = fmt.Errorf("sandbox: no order %q", orderID)
	}
	return err
}

// Capture implements CheckoutProvider: an order is captured at most once,
// whatever the key, as PayPal captures an order once.
func (c *SandboxCheckout) Capture(ctx context.Context, orderID, _ string) (Charge, error) {
	order, ok, err := c.lookup(ctx, orderID)
	if err != nil {
		return Charge{}, err
	}
	if !ok || order.Kind != sandboxpayment.KindORDER {
		return Charge{}, &Failure{Outcome: Rejected, Code: "RESOURCE_NOT_FOUND", Message: fmt.Sprintf("no order %q", orderID)}
	}
	if !order.Approved {
		return Charge{}, &Failure{Outcome: ActionRequired, Code: "ORDER_NOT_APPROVED", Message: "the payer has not approved the order"}
	}
	p, err := c.remember(ctx, &ent.SandboxPayment{
		ID: "capture-" + orderID, Kind: sandboxpayment.KindCAPTURE, Ref: orderID, Amount: order.Amount, Result: ids.New("cap"),
	})
	if err != nil {
		return Charge{}, err
	}
	return Charge{ID: p.Result, Amount: p.Amount}, nil
}

// Refund implements CheckoutProvider.
func (c *SandboxCheckout) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	return c.refund(ctx, sandboxpayment.KindCAPTURE, r)
}

// VerifyWebhook implements CheckoutProvider: the signature must be the
// secret's HMAC of "t.body" and t within SandboxTolerance of real time.
func (c *SandboxCheckout) VerifyWebhook(_ context.Context, header http.Header, body []byte) (WebhookEvent, error) {
	if err := VerifySandbox(c.Secret, header.Get(SandboxSignatureHeader), body); err != nil {
		return WebhookEvent{}, err
	}
	var ev SandboxEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Checkout == "" || ev.ID == "" {
		return WebhookEvent{}, errors.New("malformed event")
	}
	return WebhookEvent{ID: ev.ID, Type: ev.Type, OrderID: ev.Checkout}, nil
}

// SignSandbox returns the signature header value for a body at a time.
func SignSandbox(secret, body []byte, at time.Time) string {
	t := strconv.FormatInt(at.Unix(), 10)
	return "t=" + t + ",v1=" + sandboxMAC(secret, t, body)
}

func sandboxMAC(secret []byte, t string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(t + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySandbox checks a SandboxSignatureHeader value.
func VerifySandbox(secret []byte, header string, body []byte) error {
	var t, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(t, 10, 64)
	if err != nil || sig == "" {
		return errors.New("malformed signature")
	}
	// Real time, not the business clock: this guards against replays of
	// captured requests.
	if age := clock.Wall().Sub(time.Unix(unix, 0)); age > SandboxTolerance || age < -SandboxTolerance {
		return errors.New("signature too old")
	}
	if !hmac.Equal([]byte(sandboxMAC(secret, t, body)), []byte(sig)) {
		return errors.New("bad signature")
	}
	return nil
}
