package paypalfake

import (
	"encoding/json"
	"net/http"
	"time"

	"clnd/internal/money"
)

// Capture is money the fake took from a payer.
type Capture struct {
	ID, OrderID string
	RequestID   string // the PayPal-Request-Id of the call that created it
	Status      string // COMPLETED, DECLINED, PARTIALLY_REFUNDED, REFUNDED
	Amount      money.Cents
	Refunded    money.Cents
	CustomID    string
	created     time.Time
}

// Refund is money the fake gave back.
type Refund struct {
	ID, CaptureID string
	RequestID     string
	Amount        money.Cents
	created       time.Time
}

func (f *Fake) captureJSON(c *Capture) map[string]any {
	self := f.URL + "/v2/payments/captures/" + c.ID
	out := map[string]any{
		"id":            c.ID,
		"status":        c.Status,
		"amount":        usd(c.Amount),
		"final_capture": true,
		"create_time":   c.created.Format(time.RFC3339),
		"update_time":   c.created.Format(time.RFC3339),
		"links": []map[string]string{
			{"href": self, "rel": "self", "method": "GET"},
			{"href": self + "/refund", "rel": "refund", "method": "POST"},
			{"href": f.URL + "/v2/checkout/orders/" + c.OrderID, "rel": "up", "method": "GET"},
		},
	}
	if c.CustomID != "" {
		out["custom_id"] = c.CustomID
	}
	if c.Status == capturePending {
		out["status_details"] = map[string]string{"reason": "PENDING_REVIEW"}
	}
	return out
}

func (f *Fake) refundJSON(r *Refund) map[string]any {
	return map[string]any{
		"id":          r.ID,
		"status":      "COMPLETED",
		"amount":      usd(r.Amount),
		"create_time": r.created.Format(time.RFC3339),
		"links": []map[string]string{
			{"href": f.URL + "/v2/payments/refunds/" + r.ID, "rel": "self", "method": "GET"},
			{"href": f.URL + "/v2/payments/captures/" + r.CaptureID, "rel": "up", "method": "GET"},
		},
	}
}

// refundCapture is POST /v2/payments/captures/{id}/refund: an amount, or
// none for everything that remains.
func (f *Fake) refundCapture(r *http.Request, body []byte) answer {
	c, ok := f.captures[r.PathValue("id")]
	if !ok {
		return notFound("capture", r.PathValue("id"))
	}
	var req struct {
		Amount *moneyJSON `json:"amount"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return apiError(http.StatusBadRequest, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON", err.Error())
		}
	}
	const unprocessable = "UNPROCESSABLE_ENTITY"
	switch c.Status {
	case captureFullyRefunded:
		return apiError(http.StatusUnprocessableEntity, unprocessable, "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded.")
	case captureDeclined:
		return apiError(http.StatusUnprocessableEntity, unprocessable, "REFUND_NOT_ALLOWED", "Refund cannot be issued for this transaction.")
	case capturePending:
		return apiError(http.StatusUnprocessableEntity, unprocessable, "PENDING_CAPTURE", "Cannot initiate a refund as the capture is pending.")
	}
	remaining := c.Amount - c.Refunded
	amount := remaining
	if req.Amount != nil {
		var refused answer
		if amount, refused = req.Amount.cents("amount"); refused.status != 0 {
			return refused
		}
	}
	if amount > remaining {
		return apiError(http.StatusUnprocessableEntity, unprocessable, "REFUND_AMOUNT_EXCEEDED", "The refund amount must be less than or equal to the capture amount that has not yet been refunded.")
	}
	rf := &Refund{ID: randomID(17), CaptureID: c.ID, RequestID: r.Header.Get("PayPal-Request-Id"), Amount: amount, created: time.Now().UTC()}
	f.refunds = append(f.refunds, rf)
	c.Refunded += amount
	c.Status = capturePartRefunded
	if c.Refunded == c.Amount {
		c.Status = captureFullyRefunded
	}
	ans := jsonAnswer(http.StatusCreated, f.refundJSON(rf))
	ans.events = f.raiseLocked("PAYMENT.CAPTURE.REFUNDED", f.refundJSON(rf))
	return ans
}
