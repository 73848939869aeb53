package stripegw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/stripe/stripe-go/v82"

	"clnd/internal/apperr"
	"clnd/internal/payments"
)

// Save attaches the PaymentMethod the dashboard collected (r.Token, a
// "pm_…" ID from Stripe.js) to the reseller's Customer, creating the
// Customer on the reseller's first card.
func (g *Gateway) Save(ctx context.Context, r payments.MethodRequest) (payments.SavedMethod, error) {
	if !strings.HasPrefix(r.Token, "pm_") {
		return payments.SavedMethod{}, apperr.Input("gatewayToken",
			"gatewayToken must be a Stripe PaymentMethod ID (pm_…)")
	}
	// Look the method up before creating a Customer, so that a bad token
	// leaves no empty Customer behind at Stripe.
	pm, err := g.client.V1PaymentMethods.Retrieve(ctx, r.Token, nil)
	if err != nil {
		return payments.SavedMethod{}, saveError(err)
	}
	if pm.Type != stripe.PaymentMethodTypeCard || pm.Card == nil {
		return payments.SavedMethod{}, apperr.Input("gatewayToken",
			"the payment method is a %s, not a card", pm.Type)
	}
	customer := r.CustomerRef
	if customer == "" {
		params := &stripe.CustomerCreateParams{Email: optional(r.Email), Name: optional(r.Name)}
		if r.ResellerID != "" {
			params.AddMetadata("reseller_id", r.ResellerID)
		}
		c, err := g.client.V1Customers.Create(ctx, params)
		if err != nil {
			return payments.SavedMethod{}, fmt.Errorf("stripe create customer: %w", err)
		}
		customer = c.ID
	}
	attached, err := g.client.V1PaymentMethods.Attach(ctx, r.Token,
		&stripe.PaymentMethodAttachParams{Customer: stripe.String(customer)})
	if err != nil {
		return payments.SavedMethod{}, saveError(err)
	}
	return payments.SavedMethod{
		Kind:        payments.Card,
		Label:       label(attached.Card),
		Ref:         attached.ID, // test methods (pm_card_visa) attach as a new ID
		CustomerRef: customer,
	}, nil
}

// saveError makes Stripe's "no such PaymentMethod" or "already attached
// elsewhere" the user's error on gatewayToken, and a card the issuer
// refuses to keep a Declined failure. Anything else (an unknown customer,
// an outage) is clnd's problem, not the user's: a plain error.
func saveError(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe save payment method: %w", err)
	}
	switch {
	case se.Type == stripe.ErrorTypeInvalidRequest && se.Param != "customer" &&
		(se.HTTPStatusCode == http.StatusBadRequest || se.HTTPStatusCode == http.StatusNotFound):
		return &apperr.Error{Code: apperr.BadUserInput, Field: "gatewayToken",
			Message: "Stripe does not accept this payment method: " + se.Msg, Err: err}
	case se.Type == stripe.ErrorTypeCard:
		return failure("save payment method", err)
	}
	return fmt.Errorf("stripe save payment method: HTTP %d %s %s: %s",
		se.HTTPStatusCode, se.Type, se.Code, se.Msg)
}

var brandNames = map[stripe.PaymentMethodCardBrand]string{
	"amex": "American Express", "diners": "Diners Club", "discover": "Discover",
	"eftpos_au": "eftpos", "jcb": "JCB", "mastercard": "Mastercard",
	"unionpay": "UnionPay", "visa": "Visa",
}

// label is what the dashboard shows for a card: "Visa •••• 4242".
func label(c *stripe.PaymentMethodCard) string {
	if c == nil {
		return "Card"
	}
	brand, ok := brandNames[c.Brand]
	if !ok {
		brand = "Card"
	}
	return fmt.Sprintf("%s •••• %s", brand, c.Last4)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return stripe.String(s)
}
