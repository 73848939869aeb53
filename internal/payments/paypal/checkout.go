package paypal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"clnd/internal/payments"
)

// PayPal's limit on a purchase unit's description.
const maxDescription = 127

// createOrder is the Create order request of Orders v2, with the payer's
// experience in payment_source.paypal.experience_context (which replaced
// the deprecated application_context).
type createOrder struct {
	Intent        string              `json:"intent"`
	PurchaseUnits []createPurchase    `json:"purchase_units"`
	PaymentSource createPaymentSource `json:"payment_source"`
}

type createPurchase struct {
	ReferenceID string `json:"reference_id"`
	// CustomID shows in PayPal's reports and comes back on the capture, so
	// a capture found at PayPal can be traced to clnd's checkout.
	CustomID    string `json:"custom_id"`
	Description string `json:"description,omitempty"`
	Amount      amount `json:"amount"`
}

type createPaymentSource struct {
	PayPal struct {
		ExperienceContext experienceContext `json:"experience_context"`
	} `json:"paypal"`
}

type experienceContext struct {
	ReturnURL  string `json:"return_url"`
	CancelURL  string `json:"cancel_url"`
	UserAction string `json:"user_action"`
	// Licenses are not shipped; PayPal then asks no address.
	ShippingPreference string `json:"shipping_preference"`
}

// Create implements payments.CheckoutProvider: it opens an order for
// r.Amount and returns the link the payer approves it at. r.Key is the
// PayPal-Request-Id, so a retry returns the same order. If the order was
// already approved when asked again, ApproveURL is "".
func (p *Provider) Create(ctx context.Context, r payments.OrderRequest) (payments.Order, error) {
	if r.Amount <= 0 {
		return payments.Order{}, &payments.Failure{Outcome: payments.Rejected, Code: "INVALID_AMOUNT", Message: "the amount must be positive: " + r.Amount.String()}
	}
	if r.Key == "" {
		return payments.Order{}, errors.New("paypal: an order needs a key")
	}
	req := createOrder{
		Intent: "CAPTURE",
		PurchaseUnits: []createPurchase{{
			ReferenceID: r.Key,
			CustomID:    r.Key,
			Description: truncate(r.Description, maxDescription),
			Amount:      toAmount(r.Amount),
		}},
	}
	req.PaymentSource.PayPal.ExperienceContext = experienceContext{
		ReturnURL:          r.ReturnURL,
		CancelURL:          r.CancelURL,
		UserAction:         "PAY_NOW", // the payer's click at PayPal is the payment; no review page at clnd
		ShippingPreference: "NO_SHIPPING",
	}
	var o order
	if err := p.call(ctx, http.MethodPost, "/v2/checkout/orders", r.Key, req, &o); err != nil {
		return payments.Order{}, classify(err, "")
	}
	if o.ID == "" {
		return payments.Order{}, errors.New("paypal: created order has no ID")
	}
	// "payer-action" with experience_context; "approve" is the older form.
	approve := linkHref(o.Links, "payer-action")
	if approve == "" {
		approve = linkHref(o.Links, "approve")
	}
	if approve == "" && o.Status != "APPROVED" && o.Status != "COMPLETED" {
		return payments.Order{}, fmt.Errorf("paypal: order %s (%s) has no approve link", o.ID, o.Status)
	}
	return payments.Order{ID: o.ID, ApproveURL: approve}, nil
}

// Capture implements payments.CheckoutProvider. The return page and the
// webhooks may all capture the same order, each with its own key: PayPal
// captures once and answers the others ORDER_ALREADY_CAPTURED, for which
// Capture reads the order and answers its capture, so every caller gets
// the same capture ID. A capture PayPal holds as pending is a plain error
// wrapping ErrCapturePending.
func (p *Provider) Capture(ctx context.Context, orderID, key string) (payments.Charge, error) {
	if orderID == "" || key == "" {
		return payments.Charge{}, errors.New("paypal: capture needs an order ID and a key")
	}
	path := "/v2/checkout/orders/" + url.PathEscape(orderID)
	var o order
	err := p.call(ctx, http.MethodPost, path+"/capture", key, []byte("{}"), &o)
	if issueOf(err) == "ORDER_ALREADY_CAPTURED" {
		o = order{}
		err = p.call(ctx, http.MethodGet, path, "", nil, &o)
	}
	if err != nil {
		return payments.Charge{}, classify(err, orderID)
	}
	c, err := o.settledCapture()
	if errors.Is(err, errDeclinedCapture) {
		reason := c.StatusDetails.Reason
		if reason == "" {
			reason = c.Status
		}
		return payments.Charge{}, &payments.Failure{Outcome: payments.Declined, Code: reason, Message: "PayPal declined capture " + c.ID, Ref: orderID}
	}
	if err != nil {
		return payments.Charge{}, err
	}
	amt, err := c.Amount.cents()
	if err != nil {
		return payments.Charge{}, err
	}
	return payments.Charge{ID: c.ID, Amount: amt}, nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
