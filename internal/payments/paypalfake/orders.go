package paypalfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"clnd/internal/money"
)

// Order statuses (order_status in the Orders v2 spec).
const (
	statusCreated        = "CREATED"
	statusPayerAction    = "PAYER_ACTION_REQUIRED"
	statusApproved       = "APPROVED"
	statusCompleted      = "COMPLETED"
	captureCompleted     = "COMPLETED"
	captureDeclined      = "DECLINED"
	capturePending       = "PENDING"
	capturePartRefunded  = "PARTIALLY_REFUNDED"
	captureFullyRefunded = "REFUNDED"
)

type order struct {
	ID, Status                         string
	ReferenceID, CustomID, Description string
	Amount                             money.Cents
	ReturnURL, CancelURL               string
	payerAction                        bool // created with payment_source.paypal.experience_context
	PayerID                            string
	captureIDs                         []string
	created                            time.Time
}

// Order is an order as the fake holds it.
type Order struct {
	ID, Status  string
	ReferenceID string // the purchase unit's reference_id (clnd's key)
	Amount      money.Cents
	CaptureIDs  []string
}

// money is PayPal's Money object.
type moneyJSON struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

func usd(c money.Cents) moneyJSON { return moneyJSON{CurrencyCode: "USD", Value: c.String()} }

// cents reads a Money object; the answer is non-zero when PayPal refuses it.
func (m moneyJSON) cents(field string) (money.Cents, answer) {
	if m.CurrencyCode != "USD" {
		return 0, apiError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "CURRENCY_NOT_SUPPORTED", "Currency code "+m.CurrencyCode+" is not supported here (the fake is USD only).")
	}
	c, err := money.Parse(m.Value)
	if err != nil {
		return 0, apiError(http.StatusBadRequest, "INVALID_REQUEST", "INVALID_PARAMETER_SYNTAX", field+".value "+m.Value+" is not a decimal amount.")
	}
	if c <= 0 {
		return 0, apiError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "CANNOT_BE_ZERO_OR_NEGATIVE", field+" must be greater than zero.")
	}
	return c, answer{}
}

type experience struct {
	ReturnURL string `json:"return_url"`
	CancelURL string `json:"cancel_url"`
}

// createOrder is POST /v2/checkout/orders.
func (f *Fake) createOrder(r *http.Request, body []byte) answer {
	var req struct {
		Intent        string `json:"intent"`
		PurchaseUnits []struct {
			ReferenceID string    `json:"reference_id"`
			CustomID    string    `json:"custom_id"`
			Description string    `json:"description"`
			Amount      moneyJSON `json:"amount"`
		} `json:"purchase_units"`
		PaymentSource *struct {
			PayPal *struct {
				ExperienceContext experience `json:"experience_context"`
			} `json:"paypal"`
		} `json:"payment_source"`
		ApplicationContext *experience `json:"application_context"` // the deprecated form
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON", err.Error())
	}
	if req.Intent != "CAPTURE" {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE", "intent must be CAPTURE (the fake does not authorize).")
	}
	if len(req.PurchaseUnits) != 1 {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "INVALID_ARRAY_MAX_ITEMS", "The fake takes exactly one purchase unit.")
	}
	pu := req.PurchaseUnits[0]
	amount, refused := pu.Amount.cents("purchase_units[0].amount")
	if refused.status != 0 {
		return refused
	}
	o := &order{
		ID: randomID(17), Status: statusCreated, created: time.Now().UTC(),
		ReferenceID: pu.ReferenceID, CustomID: pu.CustomID, Description: pu.Description, Amount: amount,
	}
	switch {
	case req.PaymentSource != nil && req.PaymentSource.PayPal != nil:
		// With a payment source PayPal answers PAYER_ACTION_REQUIRED and a payer-action link.
		o.Status, o.payerAction = statusPayerAction, true
		o.ReturnURL, o.CancelURL = req.PaymentSource.PayPal.ExperienceContext.ReturnURL, req.PaymentSource.PayPal.ExperienceContext.CancelURL
	case req.ApplicationContext != nil:
		o.ReturnURL, o.CancelURL = req.ApplicationContext.ReturnURL, req.ApplicationContext.CancelURL
	}
	if o.ReturnURL == "" {
		return apiError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "RETURN_URL_REQUIRED", "The return url is required when attempting to vault this source.")
	}
	if o.CancelURL == "" {
		return apiError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "CANCEL_URL_REQUIRED", "The cancel url is required when attempting to vault this source.")
	}
	f.orders[o.ID] = o
	f.orderIDs = append(f.orderIDs, o.ID)
	return jsonAnswer(http.StatusCreated, f.orderJSON(o))
}

// getOrder is GET /v2/checkout/orders/{id}.
func (f *Fake) getOrder(r *http.Request, _ []byte) answer {
	o, ok := f.orders[r.PathValue("id")]
	if !ok {
		return notFound("order", r.PathValue("id"))
	}
	return jsonAnswer(http.StatusOK, f.orderJSON(o))
}

// captureOrder is POST /v2/checkout/orders/{id}/capture.
func (f *Fake) captureOrder(r *http.Request, _ []byte) answer {
	o, ok := f.orders[r.PathValue("id")]
	if !ok {
		return notFound("order", r.PathValue("id"))
	}
	switch o.Status {
	case statusCompleted:
		return apiError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED", "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.")
	case statusCreated, statusPayerAction:
		return apiError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED", "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.")
	}
	if f.faults.declineNext {
		f.faults.declineNext = false
		return apiError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED", "The instrument presented  was either declined by the processor or bank, or it can't be used for this payment.")
	}
	c := &Capture{
		ID: randomID(17), OrderID: o.ID, RequestID: r.Header.Get("PayPal-Request-Id"),
		Status: captureCompleted, Amount: o.Amount, CustomID: o.CustomID, created: time.Now().UTC(),
	}
	if f.faults.denyNext {
		f.faults.denyNext = false
		c.Status = captureDeclined
	}
	if f.faults.pendNext {
		f.faults.pendNext = false
		c.Status = capturePending
	}
	f.captures[c.ID] = c
	f.captureIDs = append(f.captureIDs, c.ID)
	o.captureIDs = append(o.captureIDs, c.ID)
	o.Status = statusCompleted
	ans := jsonAnswer(http.StatusCreated, f.orderJSON(o))
	event := map[string]string{captureCompleted: "PAYMENT.CAPTURE.COMPLETED", captureDeclined: "PAYMENT.CAPTURE.DENIED", capturePending: "PAYMENT.CAPTURE.PENDING"}[c.Status]
	ans.events = f.raiseLocked(event, f.captureResource(c))
	return ans
}

func notFound(what, id string) answer {
	return apiError(http.StatusNotFound, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", fmt.Sprintf("Specified resource ID (%s %s) does not exist. Please check the resource ID and try again.", what, id))
}

// orderJSON is the order as PayPal represents it (Prefer: return=representation).
func (f *Fake) orderJSON(o *order) map[string]any {
	self := f.URL + "/v2/checkout/orders/" + o.ID
	links := []map[string]string{{"href": self, "rel": "self", "method": "GET"}}
	switch o.Status {
	case statusCreated, statusPayerAction:
		rel := "approve"
		if o.payerAction {
			rel = "payer-action"
		}
		links = append(links, map[string]string{"href": f.approveLink(o.ID), "rel": rel, "method": "GET"})
	case statusApproved:
		links = append(links, map[string]string{"href": self + "/capture", "rel": "capture", "method": "POST"})
	}
	unit := map[string]any{
		"reference_id": o.ReferenceID,
		"amount":       usd(o.Amount),
		"payee":        map[string]string{"email_address": "merchant@example.com", "merchant_id": "C7CYMKZDG8D6E"},
	}
	if o.CustomID != "" {
		unit["custom_id"] = o.CustomID
	}
	if o.Description != "" {
		unit["description"] = o.Description
	}
	if len(o.captureIDs) > 0 {
		var caps []map[string]any
		for _, id := range o.captureIDs {
			caps = append(caps, f.captureJSON(f.captures[id]))
		}
		unit["payments"] = map[string]any{"captures": caps}
	}
	out := map[string]any{
		"id":             o.ID,
		"intent":         "CAPTURE",
		"status":         o.Status,
		"purchase_units": []any{unit},
		"create_time":    o.created.Format(time.RFC3339),
		"links":          links,
	}
	if o.PayerID != "" {
		out["payment_source"] = map[string]any{"paypal": map[string]any{"account_id": o.PayerID, "email_address": "payer@example.com"}}
		out["payer"] = map[string]any{"payer_id": o.PayerID, "email_address": "payer@example.com"}
	}
	return out
}
