// Package paypal is clnd's PayPal checkout provider: Orders v2 (create an
// order, send the payer to PayPal to approve it, capture it), refunds of
// captures, and webhook notifications checked with PayPal's own
// verify-webhook-signature call.
//
// Every call that moves money sends the caller's key as PayPal-Request-Id,
// so asking again after a timeout answers the first call's outcome instead
// of moving money twice. Errors follow payments.CheckoutProvider: a
// *payments.Failure is PayPal's definite "no money moved"; any other error
// (network, timeout, 5xx, 429) leaves the outcome unknown.
package paypal

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"clnd/internal/payments"
)

// PayPal's REST API hosts.
const (
	SandboxURL = "https://api-m.sandbox.paypal.com"
	LiveURL    = "https://api-m.paypal.com"
)

// Config is what clnd needs to talk to PayPal (CLND_PAYPAL_*).
type Config struct {
	ClientID, ClientSecret string
	// WebhookID is the ID PayPal gave the webhook registered for clnd; PayPal
	// verifies notifications against it.
	WebhookID string
	// Env is "sandbox" or "live". Anything else is treated as sandbox, so a
	// typo never reaches real money; Validate refuses it.
	Env string
	// APIURL overrides the host chosen by Env (tests point it at a fake).
	APIURL string
	// HTTPClient is used for every call, the token included; nil means a
	// client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds each call when HTTPClient is nil (default 30s).
	Timeout time.Duration
}

// Validate reports the first missing or unknown setting.
func (c Config) Validate() error {
	switch {
	case c.ClientID == "" || c.ClientSecret == "":
		return errors.New("paypal: client ID and client secret are required")
	case c.WebhookID == "":
		return errors.New("paypal: the webhook ID is required to verify notifications")
	case c.Env != "sandbox" && c.Env != "live":
		return errors.New(`paypal: env must be "sandbox" or "live"`)
	}
	return nil
}

// Provider implements payments.CheckoutProvider with PayPal.
type Provider struct {
	base      string
	webhookID string
	client    *http.Client // adds the bearer token to every call
	tokens    *renewableSource
}

var _ payments.CheckoutProvider = (*Provider)(nil)

// New builds a provider. No call is made until the first request; the
// access token is fetched then and reused until it expires.
func New(cfg Config) *Provider {
	base := cfg.APIURL
	if base == "" {
		base = SandboxURL
		if cfg.Env == "live" {
			base = LiveURL
		}
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		timeout := cfg.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		httpClient = &http.Client{Timeout: timeout}
	}
	cc := clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     base + "/v1/oauth2/token",
		// PayPal takes the credentials as HTTP basic auth only.
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	// The token source outlives any one request, so it gets a background
	// context that only carries the HTTP client to fetch tokens with.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, httpClient)
	tokens := newRenewableSource(func() oauth2.TokenSource { return cc.TokenSource(tokenCtx) })
	return &Provider{
		base:      base,
		webhookID: cfg.WebhookID,
		tokens:    tokens,
		client: &http.Client{
			Transport: &oauth2.Transport{Source: tokens, Base: httpClient.Transport},
			Timeout:   httpClient.Timeout,
		},
	}
}

// Name implements payments.CheckoutProvider.
func (p *Provider) Name() string { return "paypal" }
