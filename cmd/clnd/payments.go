package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"clnd/internal/checkout"
	"clnd/internal/payments/paypal"
	"clnd/internal/payments/stripegw"
	"clnd/internal/server"
	"clnd/internal/tracing"
)

// paymentFlags choose the payment providers. Their secrets come only from
// the environment (never flags, which show in process lists), and are
// never logged.
type paymentFlags struct {
	card, checkout, returnOrigins *string
	allowSandbox                  *bool
	grace                         *time.Duration
}

func paymentFlagsOn(fs *flag.FlagSet) *paymentFlags {
	return &paymentFlags{
		card:          fs.String("card-gateway", env("CLND_CARD_GATEWAY", "sandbox"), "card payments: sandbox or stripe (CLND_CARD_GATEWAY; stripe reads CLND_STRIPE_SECRET_KEY and CLND_STRIPE_WEBHOOK_SECRET)"),
		checkout:      fs.String("checkout-provider", env("CLND_CHECKOUT_PROVIDER", "sandbox"), "redirect payments: sandbox or paypal (CLND_CHECKOUT_PROVIDER; paypal reads CLND_PAYPAL_CLIENT_ID, CLND_PAYPAL_CLIENT_SECRET, CLND_PAYPAL_WEBHOOK_ID and CLND_PAYPAL_ENV)"),
		returnOrigins: fs.String("checkout-return-origins", env("CLND_CHECKOUT_RETURN_ORIGINS", ""), "comma-separated dashboard origins a checkout may return the payer to (CLND_CHECKOUT_RETURN_ORIGINS); default: the CORS origins"),
		grace:         fs.Duration("payment-grace", envDuration("CLND_PAYMENT_GRACE", 30*time.Second), "how long a pending payment is left to the request that opened it before the reconciler asks the provider (CLND_PAYMENT_GRACE)"),
		allowSandbox:  fs.Bool("allow-sandbox-gateway", envBool("CLND_ALLOW_SANDBOX_GATEWAY"), "let production mode use a sandbox provider, which takes no real money (CLND_ALLOW_SANDBOX_GATEWAY)"),
	}
}

// apply configures cfg's providers, refusing an incomplete configuration
// with a message that names what is missing (never a secret's value).
func (p *paymentFlags) apply(cfg *server.Config, sandboxMode bool) error {
	cfg.ReturnOrigins = server.ParseList(*p.returnOrigins)
	if *p.grace <= 0 {
		return fmt.Errorf("--payment-grace %s: want a positive duration", *p.grace)
	}
	cfg.PaymentGrace = *p.grace
	switch *p.card {
	case "sandbox":
	case "stripe":
		key, hook := os.Getenv("CLND_STRIPE_SECRET_KEY"), os.Getenv("CLND_STRIPE_WEBHOOK_SECRET")
		if missing := missingEnv("CLND_STRIPE_SECRET_KEY", "CLND_STRIPE_WEBHOOK_SECRET"); missing != "" {
			return fmt.Errorf("--card-gateway stripe needs %s in the environment", missing)
		}
		cfg.Gateway = stripegw.New(stripegw.Config{
			SecretKey: key, APIURL: os.Getenv("CLND_STRIPE_API_URL"), Timeout: 30 * time.Second, MaxNetworkRetries: 2,
			HTTPClient: providerClient(30 * time.Second),
		})
		cfg.StripeWebhook = checkout.StripeParserFor(hook)
	default:
		return fmt.Errorf("--card-gateway %q: want sandbox or stripe", *p.card)
	}
	switch *p.checkout {
	case "sandbox":
	case "paypal":
		c := paypal.Config{
			ClientID: os.Getenv("CLND_PAYPAL_CLIENT_ID"), ClientSecret: os.Getenv("CLND_PAYPAL_CLIENT_SECRET"),
			WebhookID: os.Getenv("CLND_PAYPAL_WEBHOOK_ID"), Env: os.Getenv("CLND_PAYPAL_ENV"),
			APIURL: os.Getenv("CLND_PAYPAL_API_URL"), Timeout: 30 * time.Second,
			HTTPClient: providerClient(30 * time.Second),
		}
		if missing := missingEnv("CLND_PAYPAL_CLIENT_ID", "CLND_PAYPAL_CLIENT_SECRET", "CLND_PAYPAL_WEBHOOK_ID", "CLND_PAYPAL_ENV"); missing != "" {
			return fmt.Errorf("--checkout-provider paypal needs %s in the environment", missing)
		}
		if c.Env != "sandbox" && c.Env != "live" {
			return fmt.Errorf("CLND_PAYPAL_ENV=%q: want sandbox or live", c.Env)
		}
		cfg.Checkout = paypal.New(c)
	default:
		return fmt.Errorf("--checkout-provider %q: want sandbox or paypal", *p.checkout)
	}
	if !sandboxMode && !*p.allowSandbox && (*p.card == "sandbox" || *p.checkout == "sandbox") {
		return fmt.Errorf("production mode with a sandbox payment provider takes no real money; pass --card-gateway stripe and --checkout-provider paypal, --sandbox, or --allow-sandbox-gateway if that is really meant")
	}
	return nil
}

// providerClient is the payment providers' HTTP client with tracing on:
// each call is a span and carries the trace context (traceparent) to the
// provider. With tracing off it is nil, each provider's own default.
func providerClient(timeout time.Duration) *http.Client {
	if !tracing.Enabled() {
		return nil
	}
	return &http.Client{Timeout: timeout, Transport: tracing.Transport(nil)}
}

// missingEnv names the variables, of those given, that are empty.
func missingEnv(names ...string) string {
	var missing []string
	for _, name := range names {
		if os.Getenv(name) == "" {
			missing = append(missing, name)
		}
	}
	return strings.Join(missing, ", ")
}
