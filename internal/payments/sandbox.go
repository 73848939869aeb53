package payments

import (
	"context"
	"fmt"
	"strings"

	"clnd/internal/apperr"
	"clnd/internal/ids"
)

// Sandbox is the test gateway of sandbox mode. It follows Stripe's test
// tokens: tok_visa and tok_mastercard save and charge; tok_chargeDeclined and
// tok_insufficientFunds save, but every charge on them declines with that
// reason; any other token is refused. No money moves anywhere.
type Sandbox struct{}

type sandboxCard struct {
	label   string
	decline string // "" charges succeed
}

var sandboxCards = map[string]sandboxCard{
	"tok_visa":              {label: "Visa •••• 4242"},
	"tok_mastercard":        {label: "Mastercard •••• 4444"},
	"tok_chargeDeclined":    {label: "Visa •••• 0002", decline: "card_declined"},
	"tok_insufficientFunds": {label: "Visa •••• 9995", decline: "insufficient_funds"},
}

// Name implements Gateway.
func (Sandbox) Name() string { return "sandbox" }

// Save implements Gateway. The reference is the token itself: the sandbox
// has no vault, and the token decides how charges behave.
func (Sandbox) Save(_ context.Context, r MethodRequest) (SavedMethod, error) {
	token := r.Token
	card, ok := sandboxCards[strings.TrimSpace(token)]
	if !ok {
		return SavedMethod{}, apperr.Input("gatewayToken", "unknown sandbox token %q; use tok_visa, tok_mastercard, tok_chargeDeclined or tok_insufficientFunds", token)
	}
	return SavedMethod{Kind: Card, Label: card.label, Ref: strings.TrimSpace(token)}, nil
}

// Charge implements Gateway.
func (Sandbox) Charge(_ context.Context, r ChargeRequest) (Charge, error) {
	ref, amount := r.MethodRef, r.Amount
	card, ok := sandboxCards[ref]
	if !ok {
		return Charge{}, fmt.Errorf("sandbox: unknown payment method reference %q", ref)
	}
	if amount <= 0 {
		return Charge{}, fmt.Errorf("sandbox: refusing to charge %s", amount)
	}
	if card.decline != "" {
		return Charge{}, Decline(card.decline, "")
	}
	return Charge{ID: ids.New("ch"), Amount: amount}, nil
}

// Refund implements Gateway.
func (Sandbox) Refund(_ context.Context, r RefundRequest) (Refund, error) {
	return Refund{ID: ids.New("re"), Amount: r.Amount}, nil
}
