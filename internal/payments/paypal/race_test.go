package paypal_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"clnd/internal/payments"
	"clnd/internal/payments/paypal"
)

// The whole checkout with PayPal's webhooks switched on: the
// CHECKOUT.ORDER.APPROVED webhook reaches clnd before the payer's redirect
// and captures; PAYMENT.CAPTURE.COMPLETED arrives inside that capture,
// before its answer; then the return page captures too. Every path names
// the same capture, so crediting by capture ID credits once.
func TestWebhooksRaceTheReturnPage(t *testing.T) {
	f, p := start(t)
	var mu sync.Mutex
	credited := map[string]payments.Charge{} // capture ID → what was credited
	credit := func(c payments.Charge) {
		mu.Lock()
		defer mu.Unlock()
		credited[c.ID] = c
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := p.VerifyWebhook(r.Context(), r.Header, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch ev.Type {
		case paypal.EventOrderApproved:
			c, err := p.Capture(r.Context(), ev.OrderID, "webhook-"+ev.ID)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			credit(c)
		case paypal.EventCaptureComplete:
			credit(payments.Charge{ID: ev.CaptureID, Amount: ev.Amount})
		}
	}))
	defer hook.Close()
	f.SendEventsTo(hook.URL)

	o := create(t, p, "co_1", "12.34")
	back := follow(t, o.ApproveURL)
	c, err := p.Capture(ctx, back.Query().Get("token"), "return-co_1")
	if err != nil {
		t.Fatal(err)
	}
	credit(c)

	caps := f.Captures()
	if len(caps) != 1 || len(credited) != 1 || credited[caps[0].ID] != (payments.Charge{ID: caps[0].ID, Amount: 1234}) {
		t.Fatalf("captures at PayPal %+v, credited %+v", caps, credited)
	}
	var types []string
	for _, d := range f.Deliveries() {
		if d.Status != http.StatusOK {
			t.Errorf("%s answered %d %v", d.Type, d.Status, d.Err)
		}
		types = append(types, d.Type)
	}
	if len(types) != 2 || types[0] != paypal.EventCaptureComplete || types[1] != paypal.EventOrderApproved {
		// COMPLETED is delivered inside the capture the APPROVED webhook made,
		// so it is recorded first.
		t.Fatalf("deliveries %v", types)
	}
}
