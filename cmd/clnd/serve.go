package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"time"

	"clnd/ent/operatortoken"
	"clnd/internal/auth"
	"clnd/internal/clnapi"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/invoicepdf"
	"clnd/internal/licensing"
	"clnd/internal/money"
	"clnd/internal/pricelist"
	"clnd/internal/sealed"
	"clnd/internal/seed"
	"clnd/internal/server"
	"clnd/internal/store"
	"clnd/internal/testclock"
	"clnd/internal/tracing"
	"clnd/internal/viewer"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envErrors = nil
	dbURL := databaseFlag(fs)
	addr := fs.String("addr", env("CLND_ADDR", ":8080"), "listen address (CLND_ADDR)")
	origins := fs.String("cors-origins", env("CLND_CORS_ORIGINS", ""), "comma-separated browser origins allowed to call the API, or * (CLND_CORS_ORIGINS); empty: same origin only")
	proxies := fs.String("trusted-proxies", env("CLND_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDRs whose X-Forwarded-For is believed, besides loopback (CLND_TRUSTED_PROXIES)")
	sandbox := fs.Bool("sandbox", envBool("CLND_SANDBOX"), "sandbox mode: test clock and sandbox payment gateway (CLND_SANDBOX)")
	demo := fs.Bool("demo", envBool("CLND_DEMO"), "seed demo data on first start and print a fresh operator token (CLND_DEMO)")
	pay := paymentFlagsOn(fs)
	minDeposit := fs.String("min-deposit", env("CLND_MIN_DEPOSIT", "100.00"), "smallest initial deposit a registration accepts (CLND_MIN_DEPOSIT)")
	sessionTTL := fs.Duration("session-ttl", envDuration("CLND_SESSION_TTL", 7*24*time.Hour), "how long a login session lasts (CLND_SESSION_TTL)")
	staleAfter := fs.Duration("stale-after", envDuration("CLND_STALE_AFTER", 72*time.Hour), "a license without a check-in for this long is STALE (CLND_STALE_AFTER)")
	publicURL := fs.String("public-url", env("CLND_PUBLIC_URL", ""), "where clients reach clnd, for the links it builds, e.g. https://clnd.example (CLND_PUBLIC_URL); default: the request's own host")
	manualBilling := fs.Bool("manual-billing", envBool("CLND_MANUAL_BILLING"), "bill months only when an operator calls runBilling, not on the 1st (CLND_MANUAL_BILLING)")
	interpretedReads := fs.Bool("interpreted-reads", envBool("CLND_INTERPRETED_READS"), "run every query on gqlgen and ent instead of compiling reads into one SQL statement (CLND_INTERPRETED_READS)")
	netHTTPOnly := fs.Bool("net-http-only", envBool("CLND_NET_HTTP_ONLY"), "serve agents' check-ins through net/http like every other request, not on lean connections (docs/checkins.md; CLND_NET_HTTP_ONLY)")
	checkInInterval := fs.Duration("checkin-interval", envDuration("CLND_CHECKIN_INTERVAL", time.Hour), "how often servers are told to check in (CLND_CHECKIN_INTERVAL)")
	backupURL := fs.String("backup-manage-url", env("CLND_BACKUP_MANAGE_URL", "https://backup.example.invalid/manage"), "the backup service's management page that signed backup links point at (CLND_BACKUP_MANAGE_URL)")
	backupMin := fs.Int("backup-min-gb", envInt("CLND_BACKUP_MIN_GB", 1), "smallest backup size in GB (CLND_BACKUP_MIN_GB)")
	backupMax := fs.Int("backup-max-gb", envInt("CLND_BACKUP_MAX_GB", 10000), "largest backup size in GB (CLND_BACKUP_MAX_GB)")
	clnRateLimit := fs.Int("cln-rate-limit", envInt("CLND_CLN_RATE_LIMIT", clnapi.DefaultRateLimit), "CLN API requests a minute per secret; 0 or less: no limit (CLND_CLN_RATE_LIMIT; the API's secrets are sealed with CLND_SECRETS_KEY, docs/cln-api.md)")
	issuerName := fs.String("issuer-name", env("CLND_ISSUER_NAME", ""), "the company that issues the invoices, printed on every invoice PDF (CLND_ISSUER_NAME)")
	issuerAddress := fs.String("issuer-address", env("CLND_ISSUER_ADDRESS", ""), `the issuer's postal address on the invoice PDFs; \n separates lines (CLND_ISSUER_ADDRESS)`)
	issuerTaxID := fs.String("issuer-tax-id", env("CLND_ISSUER_TAX_ID", ""), "the issuer's tax or VAT ID on the invoice PDFs (CLND_ISSUER_TAX_ID)")
	allowPrivate := fs.Bool("webhooks-allow-private", envBool("CLND_WEBHOOKS_ALLOW_PRIVATE"), "let webhook endpoints use http and private, loopback and link-local addresses: tests and local development only (CLND_WEBHOOKS_ALLOW_PRIVATE)")
	eventRetention := fs.Duration("event-retention", envDuration("CLND_EVENT_RETENTION", events.DefaultRetention), "how long events and their finished webhook deliveries are kept; 0 keeps them forever (CLND_EVENT_RETENTION)")
	webhookWorkers := fs.Int("webhook-workers", envInt("CLND_WEBHOOK_WORKERS", 20), "webhook deliveries this instance attempts at once; 0 delivers none here (CLND_WEBHOOK_WORKERS)")
	requestTimeout := fs.Duration("request-timeout", envDuration("CLND_REQUEST_TIMEOUT", 60*time.Second), "how long a GraphQL request over HTTP may take (not websockets or event streams); one whose database does not answer is answered 503 a second later; 0: no bound (CLND_REQUEST_TIMEOUT)")
	logging := logFlagsOn(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := logging.logger(stderr)
	if err != nil {
		return err
	}
	defer func() { err = logging.failure(log, err) }()
	if err := errors.Join(envErrors...); err != nil {
		return err
	}
	// Before anything is built: what is built with tracing off stays so.
	stopTracing, err := tracing.Setup(ctx, log)
	if err != nil {
		return err
	}
	defer func() {
		// After the server has drained: its last spans are sent too.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(ctx); err != nil {
			log.Warn("tracing: flushing spans", "err", err)
		}
	}()
	trusted, err := server.ParseProxies(*proxies)
	if err != nil {
		return err
	}
	var providers server.Config
	if err := pay.apply(&providers, *sandbox); err != nil {
		return err
	}
	if *backupMin < 1 || *backupMax < *backupMin {
		return fmt.Errorf("--backup-min-gb %d and --backup-max-gb %d: want 1 ≤ min ≤ max", *backupMin, *backupMax)
	}
	deposit, err := money.Parse(*minDeposit)
	if err != nil || deposit <= 0 {
		return fmt.Errorf("--min-deposit %q: want a positive amount like 100.00", *minDeposit)
	}
	keyring, err := secretsKeyring()
	if err != nil {
		return err
	}
	if !keyring.Enabled() && !*sandbox {
		log.Warn("webhook endpoints cannot be created: set " + sealed.KeyEnv + " (openssl rand -hex 32) to seal their signing secrets")
	}
	if *webhookWorkers < 0 {
		return fmt.Errorf("--webhook-workers %d: want 0 or more", *webhookWorkers)
	}
	db, err := openReady(ctx, *dbURL, logging.progress(stderr, log))
	if err != nil {
		return err
	}
	defer db.Close()
	unlock, err := lockSQLite(*dbURL)
	if err != nil {
		return err
	}
	defer unlock()
	if err := pricelist.EnsureCatalogue(ctx, db.Client); err != nil {
		return fmt.Errorf("creating the catalogue: %w", err)
	}

	var now clock.Clock = clock.System{}
	var testClock *clock.Frozen
	if *sandbox {
		if testClock, err = testclock.Load(ctx, db.Client); err != nil {
			return fmt.Errorf("loading the test clock: %w", err)
		}
		now = testClock
		go testclock.Follow(ctx, db.Client, testClock, time.Second, log)
	}
	if *demo {
		if err := announceDemo(clock.NewContext(ctx, now), db, stdout); err != nil {
			return err
		}
	}

	if *issuerName == "" && !*sandbox {
		log.Warn("invoice PDFs name no issuer: set --issuer-name, --issuer-address and --issuer-tax-id (CLND_ISSUER_NAME, CLND_ISSUER_ADDRESS, CLND_ISSUER_TAX_ID)")
	}
	if !keyring.Enabled() && !*sandbox {
		log.Warn("the CLN reseller API under /api/ is off: set " + sealed.KeyEnv + " (openssl rand -hex 32) to seal its secrets (docs/cln-api.md)")
	}
	if *clnRateLimit <= 0 {
		*clnRateLimit = -1 // server.Config: negative is no limit, zero the default
	}
	srv, err := server.New(server.Config{
		Gateway:          providers.Gateway,
		Checkout:         providers.Checkout,
		StripeWebhook:    providers.StripeWebhook,
		ReturnOrigins:    providers.ReturnOrigins,
		PaymentGrace:     providers.PaymentGrace,
		Addr:             *addr,
		Keyring:          keyring,
		Webhooks:         events.RunnerConfig{Workers: *webhookWorkers, AllowPrivate: *allowPrivate},
		WebhooksDisabled: *webhookWorkers == 0,
		EventRetention:   retention(*eventRetention),
		CORSOrigins:      server.ParseList(*origins),
		TrustedProxies:   trusted,
		Sandbox:          *sandbox,
		StaleAfter:       *staleAfter,
		MinDeposit:       deposit,
		SessionTTL:       *sessionTTL,
		CheckInInterval:  *checkInInterval,
		ManualBilling:    *manualBilling,
		InterpretedReads: *interpretedReads,
		NetHTTPOnly:      *netHTTPOnly,
		PublicURL:        *publicURL,
		BackupManageURL:  *backupURL,
		BackupSizes:      licensing.BackupSizes{MinGB: *backupMin, MaxGB: *backupMax},
		Issuer:           invoicepdf.Issuer{Name: *issuerName, Address: *issuerAddress, TaxID: *issuerTaxID},
		CLNRateLimit:     *clnRateLimit,
		RequestTimeout:   requestTimeoutConfig(*requestTimeout),
	}, db, testClock, log)
	if err != nil {
		return err
	}
	// Start-up work (migrations, the demo seed's password hashing) leaves
	// garbage behind; give it back so that an idle server stays small.
	debug.FreeOSMemory()
	// Bind before saying anything is served: a busy port is the first thing
	// a newcomer meets.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w; choose another address with --addr or CLND_ADDR (make run ADDR=:8081)", *addr, err)
	}
	log.Info("clnd serving", "addr", ln.Addr().String(), "database", db.Redacted(), "sandbox", *sandbox, "now", now.Now().Format(time.RFC3339))
	fmt.Fprintf(stdout, "GraphiQL:             http://%s/\n", displayAddr(*addr))
	return srv.Serve(ctx, ln)
}

const demoTokenName = "demo (clnd serve --demo)"

// announceDemo seeds the demo data on first start and prints what a person
// needs to try the API: a fresh operator token (the previous demo token is
// revoked, since only hashes are kept and it cannot be shown again) and the
// demo reseller's login.
func announceDemo(ctx context.Context, db *store.DB, stdout io.Writer) error {
	created, err := seed.Demo(ctx, db.Client)
	if err != nil {
		return err
	}
	sys := viewer.SystemContext(ctx)
	if _, err := db.Client.OperatorToken.Delete().Where(operatortoken.Name(demoTokenName)).Exec(sys); err != nil {
		return err
	}
	token, err := auth.CreateOperatorToken(ctx, db.Client, demoTokenName)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintln(stdout, "demo data created (demo prices and datacenters are demo values)")
	}
	fmt.Fprintf(stdout, "operator token:       %s\n", token)
	fmt.Fprintf(stdout, "demo reseller login:  %s / %s\n", seed.DemoLogin, seed.DemoPassword)
	return nil
}

// displayAddr turns a listen address into the host:port a browser opens.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// secretsKeyring reads CLND_SECRETS_KEY, the key that seals the secrets clnd
// must read back (webhook signing secrets); only from the environment, so it
// shows in no process list, and never printed.
func secretsKeyring() (sealed.Keyring, error) {
	v := os.Getenv(sealed.KeyEnv)
	if v == "" {
		return sealed.Keyring{}, nil
	}
	return sealed.ParseKey(v)
}

// retention maps the flag's "0 keeps forever" to the server's negative.
func retention(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// requestTimeoutConfig is --request-timeout as server.Config takes it: 0 (no
// bound) is negative there, where zero means the default.
func requestTimeoutConfig(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
