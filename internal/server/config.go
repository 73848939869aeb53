// Package server wires clnd's HTTP surface: the GraphQL transports, CORS,
// authentication, limits, health, metrics and GraphiQL.
package server

import (
	"fmt"
	"log/slog"

	"clnd/ent"
	"clnd/internal/checkout"
	"clnd/internal/clock"
	"clnd/internal/events"

	"clnd/internal/accounts"
	"clnd/internal/checkin"
	"clnd/internal/invoicepdf"
	"clnd/internal/licensing"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/sealed"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Config is everything `clnd serve` can be told.
type Config struct {
	Addr           string
	CORSOrigins    []string       // allowed browser origins; empty: same origin only; "*": any
	TrustedProxies []netip.Prefix // X-Forwarded-For is believed only from these (and loopback)
	Sandbox        bool

	MaxBodyBytes  int64
	MaxDepth      int
	MaxComplexity int
	StaleAfter    time.Duration
	// PublicURL is where clients reach clnd, for links it builds (PDFs, checkout pages).
	PublicURL string

	// Gateway charges cards; the sandbox gateway (remembering its keys in
	// the database) when nil.
	Gateway payments.Gateway
	// Checkout runs redirect payments; the sandbox's own page when nil.
	Checkout payments.CheckoutProvider
	// StripeWebhook checks and parses POST /webhooks/payments/stripe (nil:
	// the route answers 404).
	StripeWebhook checkout.StripeParser
	// ReturnOrigins are the dashboard origins a checkout may send the payer
	// back to; the CORS origins when empty.
	ReturnOrigins []string
	// PaymentGrace is how long the reconciler leaves a pending payment to
	// the request that opened it; 30 s when zero.
	PaymentGrace time.Duration
	// MinDeposit is the smallest initial deposit; "100.00" when zero.
	MinDeposit money.Cents
	// SessionTTL is how long a login lasts; 7 days when zero.
	SessionTTL time.Duration

	// CheckInInterval is how often servers are told to check in; 1 h when zero.
	CheckInInterval time.Duration
	// CheckInBatch tunes how check-ins are grouped into writes.
	CheckInBatch checkin.Options
	// BackupManageURL is the backup service's management page that signed
	// links point at.
	BackupManageURL string
	// Issuer is who the invoice PDFs name as their issuer (the operator's
	// company, address and tax ID).
	Issuer invoicepdf.Issuer
	// BackupSizes bound a backup's size; 1–10000 GB when zero.
	BackupSizes licensing.BackupSizes
	// ManualBilling turns the monthly billing scheduler off: months are then
	// billed only by the operator's runBilling.
	ManualBilling bool
	// InterpretedReads turns the read compiler (internal/sqlgraph) off, so
	// every query runs on gqlgen and ent. SQLite always runs them so.
	InterpretedReads bool
	// SubscriptionRecheck is how often a live subscription checks that its
	// credential still holds; 30 s when zero.
	SubscriptionRecheck time.Duration
	// CLNRateLimit is CLN API requests a minute per secret;
	// clnapi.DefaultRateLimit when zero, no limit when negative. The CLN
	// API's secrets are sealed with Keyring; without one (outside sandbox
	// mode) the API is off.
	CLNRateLimit int
	// Routes are extra handlers on the same mux, behind the same request
	// id, authentication and metrics as /graphql (the benchmark mounts its
	// hand-written SQL baseline here). Production adds none.
	Routes map[string]http.Handler
	// Keyring seals webhook signing secrets (CLND_SECRETS_KEY). Without one,
	// sandbox mode makes a key kept in the database; production refuses to
	// create webhook endpoints.
	Keyring sealed.Keyring
	// Webhooks configures this instance's delivery workers
	// (--webhooks-allow-private: deliveries may reach private addresses).
	Webhooks events.RunnerConfig
	// WebhooksDisabled runs no delivery workers on this instance (events are
	// still written and queued; another instance delivers them).
	WebhooksDisabled bool
	// EventRetention is how long events (and their finished deliveries) are
	// kept: events.DefaultRetention when zero, forever when negative.
	EventRetention time.Duration

	// Connection limits, so that no client holds a connection, a goroutine
	// or memory for free. BodyTimeout is how long a request body may take to
	// arrive once its headers have (30 s when zero); IdleTimeout how long a
	// keep-alive connection may wait for its next request (2 min);
	// WebsocketInitTimeout how long a websocket may stay open without its
	// connection_init (10 s); MaxSubscriptionsPerSocket how many operations
	// one websocket may run at once (100).
	BodyTimeout time.Duration
	// RequestTimeout bounds a GraphQL request over HTTP (not a stream):
	// its context ends then, and a request whose database does not answer
	// is answered 503 UNAVAILABLE a second later (60 s when zero; negative:
	// no bound).
	RequestTimeout time.Duration
	// NetHTTPOnly serves every request through net/http, check-ins
	// included: no lean connections (leanconn.go; --net-http-only).
	NetHTTPOnly               bool
	IdleTimeout               time.Duration
	WebsocketInitTimeout      time.Duration
	MaxSubscriptionsPerSocket int
}

// AccountsService builds the account rules with the configured payment
// providers (the sandbox ones by default); clnd bill uses it too.
func (c *Config) AccountsService(db *ent.Client, clk clock.Clock, webhookSecret []byte, log *slog.Logger) *accounts.Service {
	sandbox := &payments.Sandbox{Client: db}
	g := c.Gateway
	if g == nil {
		g = sandbox
	}
	svc := accounts.NewService(g)
	svc.Client, svc.Clock, svc.Log, svc.Grace = db, clk, log, c.PaymentGrace
	svc.Checkout = c.Checkout
	if svc.Checkout == nil {
		svc.Checkout = &payments.SandboxCheckout{Sandbox: sandbox, Secret: webhookSecret}
	}
	svc.ReturnOrigins = c.ReturnOrigins
	if len(svc.ReturnOrigins) == 0 {
		svc.ReturnOrigins = c.CORSOrigins
	}
	if c.MinDeposit != 0 {
		svc.MinDeposit = c.MinDeposit
	}
	if c.SessionTTL != 0 {
		svc.SessionTTL = c.SessionTTL
	}
	return svc
}

// Defaults fills what is unset.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = 12
	}
	if c.MaxComplexity == 0 {
		c.MaxComplexity = 50_000
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 72 * time.Hour
	}
	if c.EventRetention == 0 {
		c.EventRetention = events.DefaultRetention
	}
	if c.CheckInInterval == 0 {
		c.CheckInInterval = time.Hour
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = 30 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.WebsocketInitTimeout == 0 {
		c.WebsocketInitTimeout = 10 * time.Second
	}
	if c.MaxSubscriptionsPerSocket == 0 {
		c.MaxSubscriptionsPerSocket = 100
	}
	if c.BackupManageURL == "" {
		c.BackupManageURL = "https://backup.example.invalid/manage"
	}
	if c.BackupSizes == (licensing.BackupSizes{}) {
		c.BackupSizes = licensing.DefaultBackupSizes
	}
}

// ParseList splits a comma-separated flag value.
func ParseList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// ParseProxies reads addresses and CIDR prefixes ("10.0.0.0/8, 192.0.2.7").
func ParseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range ParseList(s) {
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", part, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", part, err)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
