package stripefake

// Charge is a succeeded payment, as a test checks it.
type Charge struct {
	PaymentIntentID, ChargeID string
	Customer, PaymentMethod   string
	Amount, AmountRefunded    int64
	IdempotencyKey            string
	Metadata                  map[string]string
}

// Refund is a refund, as a test checks it.
type Refund struct {
	ID, ChargeID, PaymentIntentID string
	Amount                        int64
	Reason, IdempotencyKey        string
	Metadata                      map[string]string
}

// Customer is a customer, as a test checks it.
type Customer struct {
	ID, Email, Name string
	Metadata        map[string]string
}

// Charges lists the succeeded payments, oldest first.
func (f *Fake) Charges() []Charge {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Charge
	for _, pi := range f.intentList {
		if pi.status != "succeeded" {
			continue
		}
		out = append(out, Charge{
			PaymentIntentID: pi.id, ChargeID: pi.charge.id,
			Customer: pi.customer, PaymentMethod: pi.method,
			Amount: pi.amount, AmountRefunded: pi.charge.amountRefunded,
			IdempotencyKey: pi.idempotencyKey, Metadata: pi.metadata,
		})
	}
	return out
}

// Refunds lists the refunds, oldest first.
func (f *Fake) Refunds() []Refund {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Refund
	for _, r := range f.refunds {
		out = append(out, Refund{
			ID: r.id, ChargeID: r.charge.id, PaymentIntentID: r.charge.pi.id,
			Amount: r.amount, Reason: r.reason, IdempotencyKey: r.idempotencyKey,
			Metadata: r.metadata,
		})
	}
	return out
}

// Customers lists the customers, oldest first.
func (f *Fake) Customers() []Customer {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Customer
	for _, c := range f.customerList {
		out = append(out, Customer{ID: c.id, Email: c.email, Name: c.name, Metadata: c.metadata})
	}
	return out
}

// Requests counts the API requests received, failed and lost ones included.
func (f *Fake) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}
