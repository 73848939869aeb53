package paypalfake

import (
	"net/http"
)

// Delivery is a webhook the fake posted by itself (see SendEventsTo).
type Delivery struct {
	EventID, Type string
	// Header and Body are the delivery as sent, to replay it with Deliver.
	Header http.Header
	Body   []byte
	Status int   // the receiver's answer, 0 if it could not be reached
	Err    error // why it could not be reached
}

// SendEventsTo makes the fake post, as PayPal does, CHECKOUT.ORDER.APPROVED
// when the payer approves, PAYMENT.CAPTURE.COMPLETED (or DENIED, PENDING)
// when an order is captured or a pending capture settles, and
// PAYMENT.CAPTURE.REFUNDED on a refund, each signed, to url ("" stops).
//
// Each event is posted before the call or page that raised it answers (the
// payer's redirect, the capture's answer), and waits for the receiver: the
// webhook always wins the race, which is the order a receiver is least
// likely to expect. A receiver must therefore not hold a database
// transaction open across a PayPal call.
func (f *Fake) SendEventsTo(url string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventsURL = url
}

// Deliveries lists the events posted by SendEventsTo, oldest first.
func (f *Fake) Deliveries() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.deliveries...)
}

// raiseLocked signs an event for SendEventsTo's URL, nil when none is set;
// f.mu is held. The caller posts it with deliver once it has let go of f.mu.
func (f *Fake) raiseLocked(eventType string, resource any) []signedEvent {
	if f.eventsURL == "" {
		return nil
	}
	return []signedEvent{f.signLocked(eventType, resource)}
}

// deliver posts raised events; f.mu is not held (the receiver calls back).
func (f *Fake) deliver(events []signedEvent) {
	f.mu.Lock()
	url := f.eventsURL
	f.mu.Unlock()
	for _, ev := range events {
		d := Delivery{EventID: ev.id, Type: ev.eventType, Header: ev.header.Clone(), Body: ev.body}
		if url != "" {
			d.Status, d.Err = Deliver(url, ev.header, ev.body)
		}
		f.mu.Lock()
		f.deliveries = append(f.deliveries, d)
		f.mu.Unlock()
	}
}
