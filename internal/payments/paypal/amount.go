package paypal

import (
	"fmt"

	"clnd/internal/money"
)

// clnd only sells in US dollars.
const currency = "USD"

// amount is PayPal's Money object: a currency and a decimal string.
type amount struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

func toAmount(c money.Cents) amount {
	return amount{CurrencyCode: currency, Value: c.String()}
}

// cents reads an amount PayPal reported, refusing another currency rather
// than crediting euros as dollars.
func (a amount) cents() (money.Cents, error) {
	if a.CurrencyCode != currency {
		return 0, fmt.Errorf("paypal: amount in %q, want %s", a.CurrencyCode, currency)
	}
	c, err := money.Parse(a.Value)
	if err != nil {
		return 0, fmt.Errorf("paypal: amount %q: %w", a.Value, err)
	}
	return c, nil
}
