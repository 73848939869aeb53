package stripefake

import (
	"encoding/json"
	"io"
)

// Delivery is one webhook event the fake posted to the endpoint set with
// SendEventsTo.
type Delivery struct {
	EventID, Type string
	Status        int   // the endpoint's HTTP status, 0 when Err
	Err           error // the post failed on the network
}

// SendEventsTo makes the fake post each event it raises to url, signed,
// as Stripe does. It posts before the API answer that raised the event
// is written: with Stripe too the webhook can arrive first.
func (f *Fake) SendEventsTo(url string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.webhookURL = url
}

// Deliveries lists the webhook posts made so far, oldest first.
func (f *Fake) Deliveries() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.deliveries...)
}

// deliver posts the events raised since the last delivery. It runs
// without f.mu, so that the endpoint may call the API.
func (f *Fake) deliver() {
	f.mu.Lock()
	url, outbox := f.webhookURL, f.outbox
	f.outbox = nil
	f.mu.Unlock()
	for _, body := range outbox {
		var ev struct{ ID, Type string }
		json.Unmarshal(body, &ev)
		d := Delivery{EventID: ev.ID, Type: ev.Type}
		res, err := f.Post(url, body)
		if err != nil {
			d.Err = err
		} else {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			d.Status = res.StatusCode
		}
		f.mu.Lock()
		f.deliveries = append(f.deliveries, d)
		f.mu.Unlock()
	}
}
