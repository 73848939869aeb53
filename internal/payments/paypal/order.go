package paypal

import (
	"errors"
	"fmt"
	"strings"
)

// order is the part of PayPal's Order object clnd reads.
type order struct {
	ID            string         `json:"id"`
	Status        string         `json:"status"`
	PurchaseUnits []purchaseUnit `json:"purchase_units"`
	Links         []link         `json:"links"`
}

type purchaseUnit struct {
	ReferenceID string `json:"reference_id"`
	CustomID    string `json:"custom_id"`
	Amount      amount `json:"amount"`
	Payments    struct {
		Captures []capture `json:"captures"`
	} `json:"payments"`
}

type link struct {
	Href   string `json:"href"`
	Rel    string `json:"rel"`
	Method string `json:"method"`
}

// capture is PayPal's Capture object (also the resource of the
// PAYMENT.CAPTURE.* webhooks).
type capture struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Amount        amount `json:"amount"`
	StatusDetails struct {
		Reason string `json:"reason"`
	} `json:"status_details"`
	SupplementaryData struct {
		RelatedIDs struct {
			OrderID   string `json:"order_id"`
			CaptureID string `json:"capture_id"` // on some refund events
		} `json:"related_ids"`
	} `json:"supplementary_data"`
	Links []link `json:"links"`
}

// linkHref finds a HATEOAS link by relation.
func linkHref(links []link, rel string) string {
	for _, l := range links {
		if strings.EqualFold(l.Rel, rel) {
			return l.Href
		}
	}
	return ""
}

// Capture statuses (capture_status in the Orders v2 spec).
const (
	captureCompleted         = "COMPLETED"
	capturePartiallyRefunded = "PARTIALLY_REFUNDED"
	captureRefunded          = "REFUNDED"
	capturePending           = "PENDING"
	captureDeclined          = "DECLINED"
	captureFailed            = "FAILED"
)

// ErrCapturePending is wrapped by Capture when PayPal accepted the capture
// but has not settled it (an eCheck, a review): no money yet, and
// PAYMENT.CAPTURE.COMPLETED or PAYMENT.CAPTURE.DENIED follows.
var ErrCapturePending = errors.New("paypal: capture pending")

// settledCapture picks the capture that took the order's money. A later
// refund changes a capture's status, not the fact that it was captured.
func (o order) settledCapture() (capture, error) {
	var pending, declined *capture
	for i := range o.PurchaseUnits {
		for j := range o.PurchaseUnits[i].Payments.Captures {
			c := &o.PurchaseUnits[i].Payments.Captures[j]
			switch c.Status {
			case captureCompleted, capturePartiallyRefunded, captureRefunded:
				return *c, nil
			case capturePending:
				pending = c
			case captureDeclined, captureFailed:
				declined = c
			}
		}
	}
	switch {
	case pending != nil:
		return *pending, fmt.Errorf("%w: capture %s of order %s (%s)", ErrCapturePending, pending.ID, o.ID, pending.StatusDetails.Reason)
	case declined != nil:
		return *declined, errDeclinedCapture
	}
	return capture{}, fmt.Errorf("paypal: order %s (%s) has no capture", o.ID, o.Status)
}

var errDeclinedCapture = errors.New("paypal: capture declined")
