package paypalfake

// Captures lists every capture, declined ones included, oldest first.
func (f *Fake) Captures() []Capture {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Capture, 0, len(f.captureIDs))
	for _, id := range f.captureIDs {
		out = append(out, *f.captures[id])
	}
	return out
}

// Refunds lists every refund, oldest first.
func (f *Fake) Refunds() []Refund {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Refund, 0, len(f.refunds))
	for _, r := range f.refunds {
		out = append(out, *r)
	}
	return out
}

// Orders lists every order, oldest first.
func (f *Fake) Orders() []Order {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Order, 0, len(f.orderIDs))
	for _, id := range f.orderIDs {
		o := f.orders[id]
		out = append(out, Order{
			ID: o.ID, Status: o.Status, ReferenceID: o.ReferenceID, Amount: o.Amount,
			CaptureIDs: append([]string(nil), o.captureIDs...),
		})
	}
	return out
}

// TokenRequests counts the access tokens handed out.
func (f *Fake) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenRequests
}

// APICalls counts the authenticated API calls (everything but the token
// endpoint and the payer's pages), failed and lost ones included.
func (f *Fake) APICalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apiCalls
}
