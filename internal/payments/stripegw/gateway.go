// Package stripegw is clnd's card gateway on Stripe
// (github.com/stripe/stripe-go): a Customer per reseller, PaymentMethods
// the dashboard collected with Stripe.js attached to it, off-session
// PaymentIntents keyed by clnd's payment attempt, refunds, and the
// verification of Stripe's webhook events.
package stripegw

import (
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v82"

	"clnd/internal/payments"
)

// Config says how to reach Stripe.
type Config struct {
	// SecretKey is the account's secret API key (sk_live_… or sk_test_…).
	SecretKey string
	// APIURL replaces https://api.stripe.com, e.g. with a local fake; ""
	// is Stripe's.
	APIURL string
	// HTTPClient makes the calls; nil is a client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one call when HTTPClient is nil; 0 is 30 seconds.
	Timeout time.Duration
	// MaxNetworkRetries is how often stripe-go itself retries a call that
	// failed on the network or with a 409/5xx, with the same
	// Idempotency-Key (so a retry never charges twice); 0 is none.
	MaxNetworkRetries int
}

// Gateway is payments.Gateway on Stripe.
type Gateway struct {
	client *stripe.Client
}

var _ payments.Gateway = (*Gateway)(nil)

// New returns a gateway for cfg. It makes no call.
func New(cfg Config) *Gateway {
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		httpClient = &http.Client{Timeout: timeout}
	}
	backend := &stripe.BackendConfig{
		HTTPClient:        httpClient,
		MaxNetworkRetries: stripe.Int64(int64(cfg.MaxNetworkRetries)),
		// Every failure is returned to the caller, who logs it with
		// the request it belongs to; stripe-go's own log would say it
		// twice, on stderr.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIURL != "" {
		backend.URL = stripe.String(cfg.APIURL)
	}
	client := stripe.NewClient(cfg.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(backend)))
	return &Gateway{client: client}
}

// Name is how clnd marks references that belong to Stripe.
func (g *Gateway) Name() string { return "stripe" }
