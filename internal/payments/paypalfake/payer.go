package paypalfake

import (
	"fmt"
	"net/http"
	"net/url"
)

// The payer's side of PayPal (www.paypal.com in real life): the approve
// link an order answers, the Pay Now click, and "Cancel and return".

func (f *Fake) approveLink(orderID string) string {
	return f.URL + "/checkoutnow?token=" + url.QueryEscape(orderID)
}

// CancelLink is where the payer lands when clicking "Cancel and return"
// at PayPal: it redirects to the order's cancel_url.
func (f *Fake) CancelLink(orderID string) string {
	return f.URL + "/checkoutnow/cancel?token=" + url.QueryEscape(orderID)
}

// Approve is the payer approving orderID at PayPal (clicking Pay Now).
func (f *Fake) Approve(orderID string) error {
	f.mu.Lock()
	_, events, err := f.approveLocked(orderID)
	f.mu.Unlock()
	f.deliver(events)
	return err
}

// approveLocked approves an order once and raises CHECKOUT.ORDER.APPROVED;
// approving it again changes nothing. f.mu is held.
func (f *Fake) approveLocked(orderID string) (*order, []signedEvent, error) {
	o, ok := f.orders[orderID]
	if !ok {
		return nil, nil, fmt.Errorf("paypalfake: no order %q", orderID)
	}
	if o.Status != statusCreated && o.Status != statusPayerAction {
		return o, nil, nil
	}
	o.Status, o.PayerID = statusApproved, randomID(13)
	return o, f.raiseLocked("CHECKOUT.ORDER.APPROVED", f.orderJSON(o)), nil
}

// approvePage is the approve link: the payer logs in, clicks Pay Now and is
// sent to return_url with ?token=<order ID>&PayerID=<payer>.
func (f *Fake) approvePage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	o, events, err := f.approveLocked(r.URL.Query().Get("token"))
	var target string
	if err == nil {
		target = withQuery(o.ReturnURL, url.Values{"token": {o.ID}, "PayerID": {o.PayerID}})
	}
	f.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	f.deliver(events) // the webhook reaches clnd before the payer does
	http.Redirect(w, r, target, http.StatusFound)
}

// cancelPage sends the payer to cancel_url with ?token=<order ID>; the
// order stays unapproved, as at PayPal.
func (f *Fake) cancelPage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	o, ok := f.orders[r.URL.Query().Get("token")]
	var target string
	if ok {
		target = withQuery(o.CancelURL, url.Values{"token": {o.ID}})
	}
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

func withQuery(base string, add url.Values) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	for k, v := range add {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}
