// Package payments is clnd's side of the payment providers: the card gateway
// (saves payment methods and charges them off-session) and the checkout
// provider (a redirect payment the payer approves at the provider). Only the
// providers' references and a label are ever stored, never card data.
//
// Every call that moves money carries a key: the ID of the payment attempt
// clnd committed before calling. A provider that sees the same key again
// answers with the outcome of the first call and moves no money twice
// (Stripe's Idempotency-Key, PayPal's PayPal-Request-Id), so clnd can always
// ask again after a crash or a timeout.
package payments

import (
	"context"
	"errors"
	"net/http"

	"clnd/internal/money"
)

// Kind is what a saved method is.
type Kind string

const (
	Card   Kind = "CARD"
	PayPal Kind = "PAYPAL"
)

// MethodRequest asks a gateway to keep a client-side token for later charges.
type MethodRequest struct {
	// Token is what the gateway's client library gave the dashboard
	// (Stripe: a PaymentMethod ID "pm_…"; sandbox: "tok_visa" and the like).
	Token string
	// CustomerRef is the reseller's customer at the gateway, "" when it has
	// none yet; the gateway then creates one and returns it.
	CustomerRef string
	// ResellerID, Email and Name describe the customer to the gateway.
	ResellerID, Email, Name string
}

// SavedMethod is a payment method as the gateway keeps it.
type SavedMethod struct {
	Kind        Kind
	Label       string // "Visa •••• 4242"
	Ref         string // the gateway's reference; charged later
	CustomerRef string // the customer it is attached to ("" if the gateway has none)
}

// ChargeRequest is one off-session charge.
type ChargeRequest struct {
	// Key is the payment attempt's ID: the same key is the same charge.
	Key         string
	MethodRef   string
	CustomerRef string
	Amount      money.Cents
	Description string
	ResellerID  string
}

// Charge is money a provider took.
type Charge struct {
	ID     string // the provider's reference (Stripe: the PaymentIntent "pi_…")
	Amount money.Cents
}

// RefundRequest returns all or part of a charge.
type RefundRequest struct {
	Key      string // the refund attempt's ID
	ChargeID string
	Amount   money.Cents
	Reason   string
}

// Refund is money a provider gave back.
type Refund struct {
	ID     string
	Amount money.Cents
}

// Gateway saves and charges cards.
type Gateway interface {
	// Name identifies the gateway in stored references ("sandbox", "stripe").
	Name() string
	// Save turns a client-side token into a reusable method. An unknown
	// token is BAD_USER_INPUT on field "gatewayToken".
	Save(ctx context.Context, r MethodRequest) (SavedMethod, error)
	// Charge takes r.Amount from a saved method. The error is a *Failure
	// when the provider answered that no money moved; any other error leaves
	// the outcome unknown, and asking again with the same key settles it.
	Charge(ctx context.Context, r ChargeRequest) (Charge, error)
	// Refund gives back all or part of a charge, with the same error rules.
	Refund(ctx context.Context, r RefundRequest) (Refund, error)
}

// OrderRequest opens a checkout order the payer approves at the provider.
type OrderRequest struct {
	Key         string // the checkout's ID
	Amount      money.Cents
	Description string
	// ReturnURL and CancelURL are clnd's own pages, where the provider
	// sends the payer back.
	ReturnURL, CancelURL string
}

// Order is an opened checkout order.
type Order struct {
	ID         string // the provider's order ID
	ApproveURL string // where the payer goes to approve it
}

// WebhookEvent is a provider's notification, checked and reduced to what
// clnd acts on.
type WebhookEvent struct {
	ID   string // the provider's event ID; the same event is acted on once
	Type string // the provider's own type, e.g. "PAYMENT.CAPTURE.COMPLETED"
	// OrderID and CaptureID name what the event is about ("" when absent).
	OrderID, CaptureID string
	Amount             money.Cents
}

// CheckoutProvider is a redirect payment (PayPal Orders v2, or clnd's sandbox page).
type CheckoutProvider interface {
	Name() string
	// Create opens an order for r.Amount; r.Key makes a retry return the same order.
	Create(ctx context.Context, r OrderRequest) (Order, error)
	// Capture takes the money of an approved order. key is the capture
	// attempt's ID. A *Failure means nothing was captured (not approved,
	// declined); capturing a captured order answers its capture.
	Capture(ctx context.Context, orderID, key string) (Charge, error)
	// Refund gives back all or part of a capture (r.ChargeID).
	Refund(ctx context.Context, r RefundRequest) (Refund, error)
	// VerifyWebhook checks a notification's authenticity and parses it; an
	// error means it must be ignored (answered 400).
	VerifyWebhook(ctx context.Context, header http.Header, body []byte) (WebhookEvent, error)
}

// Outcome says what a provider's definite "no" means.
type Outcome string

const (
	// Declined: the bank or provider refused; no money moved.
	Declined Outcome = "DECLINED"
	// ActionRequired: the payer must authenticate (3-D Secure) or approve
	// first; no money moved yet, ClientSecret lets the dashboard finish it.
	ActionRequired Outcome = "ACTION_REQUIRED"
	// Rejected: the request itself was refused (an unknown method, an
	// amount below the provider's minimum); no money moved.
	Rejected Outcome = "REJECTED"
)

// Failure is a provider's definite answer that no money moved.
type Failure struct {
	Outcome Outcome
	// Code is the provider's reason ("card_declined", "insufficient_funds",
	// "authentication_required", "ORDER_NOT_APPROVED").
	Code    string
	Message string
	// ClientSecret is the Stripe PaymentIntent's client secret, for
	// ActionRequired only.
	ClientSecret string
	// Ref is the provider's object the failure is about (a PaymentIntent), if any.
	Ref string
}

func (f *Failure) Error() string {
	if f.Message != "" {
		return f.Code + ": " + f.Message
	}
	return f.Code
}

// Decline is a Declined failure with the provider's reason.
func Decline(code, message string) *Failure {
	return &Failure{Outcome: Declined, Code: code, Message: message}
}

// AsFailure finds a definite failure in err's chain.
func AsFailure(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}
