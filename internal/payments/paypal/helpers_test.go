package paypal_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/payments/paypal"
	"clnd/internal/payments/paypalfake"
)

// start runs a fake PayPal and a provider configured against it.
func start(t *testing.T) (*paypalfake.Fake, *paypal.Provider) {
	t.Helper()
	f := paypalfake.New()
	t.Cleanup(f.Close)
	return f, providerFor(f, 5*time.Second)
}

func providerFor(f *paypalfake.Fake, timeout time.Duration) *paypal.Provider {
	return paypal.New(paypal.Config{
		ClientID: f.ClientID, ClientSecret: f.ClientSecret, WebhookID: f.WebhookID,
		Env: "sandbox", APIURL: f.URL, Timeout: timeout,
	})
}

var ctx = context.Background()

func orderRequest(key string, amount string) payments.OrderRequest {
	return payments.OrderRequest{
		Key: key, Amount: money.MustParse(amount), Description: "clnd top-up",
		ReturnURL: "https://clnd.example/checkout/" + key + "/return",
		CancelURL: "https://clnd.example/checkout/" + key + "/cancel?from=paypal",
	}
}

// create opens an order and fails the test if it cannot.
func create(t *testing.T, p *paypal.Provider, key, amount string) payments.Order {
	t.Helper()
	o, err := p.Create(ctx, orderRequest(key, amount))
	if err != nil {
		t.Fatalf("Create(%s): %v", key, err)
	}
	return o
}

// approved opens an order and has the payer approve it.
func approved(t *testing.T, f *paypalfake.Fake, p *paypal.Provider, key, amount string) payments.Order {
	t.Helper()
	o := create(t, p, key, amount)
	if err := f.Approve(o.ID); err != nil {
		t.Fatal(err)
	}
	return o
}

// follow is a browser's first hop: GET link, answer where it redirects.
func follow(t *testing.T, link string) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %s, want a redirect", link, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// wantFailure checks err is a definite failure with this outcome and code.
func wantFailure(t *testing.T, err error, outcome payments.Outcome, code string) {
	t.Helper()
	f, ok := payments.AsFailure(err)
	if !ok {
		t.Fatalf("error %v is not a *payments.Failure", err)
	}
	if f.Outcome != outcome || (code != "" && f.Code != code) {
		t.Fatalf("failure %s %s (%s), want %s %s", f.Outcome, f.Code, f.Message, outcome, code)
	}
}

// wantUnknown checks err is an unknown outcome: an error, but not a Failure.
func wantUnknown(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want an unknown outcome")
	}
	if f, ok := payments.AsFailure(err); ok {
		t.Fatalf("definite failure %v, want an unknown outcome", f)
	}
}
