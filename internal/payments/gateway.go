// Package payments is clnd's side of the payment gateway: an interface that
// saves payment methods and charges them, and the sandbox gateway that
// follows Stripe's test tokens. Only the gateway's references and a label are
// ever stored, never card data.
package payments

import (
	"context"

	"clnd/internal/apperr"
	"clnd/internal/money"
)

// Kind is what a saved method is.
type Kind string

const (
	Card   Kind = "CARD"
	PayPal Kind = "PAYPAL"
)

// SavedMethod is a payment method as the gateway keeps it.
type SavedMethod struct {
	Kind  Kind
	Label string // "Visa •••• 4242"
	Ref   string // the gateway's reference; charged later
}

// Charge is money the gateway took.
type Charge struct {
	ID     string
	Amount money.Cents
}

// Gateway saves and charges payment methods.
type Gateway interface {
	// Name identifies the gateway in stored references.
	Name() string
	// Save turns a client-side token into a reusable method. An unknown
	// token is BAD_USER_INPUT on field "gatewayToken".
	Save(ctx context.Context, token string) (SavedMethod, error)
	// Charge takes amount from a saved method. A decline is a PAYMENT_FAILED
	// apperr.Error carrying the reason; key makes the charge idempotent at
	// the gateway.
	Charge(ctx context.Context, ref string, amount money.Cents, key string) (Charge, error)
	// Refund returns a charge, for example when what it paid for could not be saved.
	Refund(ctx context.Context, charge Charge) error
}

// Declined is the error of a declined charge.
func Declined(reason string) error {
	return apperr.New(apperr.PaymentFailed, "the payment was declined (%s)", reason)
}
