package paypal_test

import (
	"errors"
	"net/http"
	"testing"

	"clnd/internal/payments/paypal"
)

// hostRecorder fails every request and remembers where it was going.
type hostRecorder struct{ urls []string }

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.urls = append(h.urls, r.URL.String())
	return nil, errors.New("offline")
}

func TestEnvPicksThePayPalHost(t *testing.T) {
	for env, want := range map[string]string{
		"live":    "https://api-m.paypal.com/v1/oauth2/token",
		"sandbox": "https://api-m.sandbox.paypal.com/v1/oauth2/token",
		"":        "https://api-m.sandbox.paypal.com/v1/oauth2/token",
		"prod":    "https://api-m.sandbox.paypal.com/v1/oauth2/token", // a typo never reaches real money
	} {
		rec := &hostRecorder{}
		p := paypal.New(paypal.Config{ClientID: "id", ClientSecret: "secret", Env: env, HTTPClient: &http.Client{Transport: rec}})
		_, err := p.Capture(ctx, "5O190127TN364715T", "pa_1")
		wantUnknown(t, err)
		if len(rec.urls) != 1 || rec.urls[0] != want {
			t.Errorf("env %q called %v, want the token at %s first", env, rec.urls, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := paypal.Config{ClientID: "id", ClientSecret: "secret", WebhookID: "8PT597110X687430LKGECATA", Env: "live"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*paypal.Config){
		"no client id": func(c *paypal.Config) { c.ClientID = "" },
		"no secret":    func(c *paypal.Config) { c.ClientSecret = "" },
		"no webhook":   func(c *paypal.Config) { c.WebhookID = "" },
		"unknown env":  func(c *paypal.Config) { c.Env = "production" },
	} {
		c := good
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
