package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"clnd/ent"
	"clnd/graph"
	"clnd/graph/generated"
	"clnd/internal/accounts"
	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/billing"
	"clnd/internal/checkin"
	"clnd/internal/checkout"
	"clnd/internal/clnapi"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/idempotency"
	"clnd/internal/ids"
	"clnd/internal/invoicepdf"
	"clnd/internal/licensing"
	"clnd/internal/live"
	"clnd/internal/reqinfo"
	"clnd/internal/sealed"
	"clnd/internal/secrets"
	"clnd/internal/server/graphiql"
	"clnd/internal/sqlgraph"
	"clnd/internal/store"
	"clnd/internal/tracing"
	"clnd/internal/viewer"
)

// Server is one clnd API instance.
type Server struct {
	cfg      Config
	db       *store.DB
	clock    clock.Clock
	log      *slog.Logger
	metrics  *metrics
	handler  http.Handler
	hub      *live.Hub
	checkIns *checkin.Service
	// background work (the LISTEN bridge) stops when cancel is called.
	cancel    context.CancelFunc
	listening chan struct{}
	stopped   sync.WaitGroup
	// staleKick wakes the stale sweep (the test clock moved).
	staleKick chan struct{}
	// stopRunner stops the webhook delivery workers (nil when disabled).
	stopRunner func(context.Context) error
	// stmts keeps compiled reads prepared (nil on SQLite or with the compiler off).
	stmts *stmtCache
	// streams are the open websockets and event streams, which a graceful
	// stop ends itself (shutdown.go).
	streams *openStreams
	// ping is /readyz's database ping, one at a time (unavailable.go).
	ping readinessPing
}

// New builds the HTTP handler. testClock is the sandbox clock (nil outside
// sandbox mode); the server reads time from it or from the system clock.
func New(cfg Config, db *store.DB, testClock *clock.Frozen, log *slog.Logger) (*Server, error) {
	cfg.Defaults()
	// Lines logged with a request's context name the request (request_id).
	log = slog.New(reqinfo.LogHandler(log.Handler()))
	s := &Server{cfg: cfg, db: db, log: log, hub: live.NewHub(), listening: make(chan struct{}), streams: newOpenStreams()}
	s.clock = clock.System{}
	if testClock != nil {
		s.clock = testClock
	}
	secret, err := secrets.Get(context.Background(), db.Client, secrets.BackupLinks)
	if err != nil {
		return nil, fmt.Errorf("loading the backup link secret: %w", err)
	}
	webhookSecret, err := secrets.Get(context.Background(), db.Client, secrets.SandboxWebhook)
	if err != nil {
		return nil, fmt.Errorf("loading the webhook secret: %w", err)
	}
	invoiceSecret, err := secrets.Get(context.Background(), db.Client, secrets.InvoiceLinks)
	if err != nil {
		return nil, fmt.Errorf("loading the invoice link secret: %w", err)
	}
	invoiceLinks := invoicepdf.Links{Secret: invoiceSecret, TTL: invoicepdf.DefaultLinkTTL}
	origin := ids.New("ins")
	s.checkIns = checkin.New(db, s.hub, origin, log, cfg.CheckInBatch)
	s.metrics = newMetrics(db.SQL, s.hub, s.checkIns)
	var bg context.Context
	bg, s.cancel = context.WithCancel(context.Background())
	if db.Postgres() {
		// Other instances NOTIFY their check-ins only while this one lists
		// itself as having subscribers (internal/live/presence.go).
		presence := live.NewPresence(db.SQL, origin, s.hub, log)
		s.stopped.Add(1)
		go func() {
			defer s.stopped.Done()
			presence.Run(bg)
		}()
		s.stopped.Add(1)
		go func() {
			defer s.stopped.Done()
			ready := func() { close(s.listening) }
			if err := live.Listen(bg, db.URL, origin, s.hub, log, ready); err != nil {
				log.Error("check-in listener stopped", "err", err)
			}
		}()
	} else {
		close(s.listening) // SQLite: one process, events stay in it
	}
	accountsService := cfg.AccountsService(db.Client, s.clock, webhookSecret, log)
	scheduler := billing.NewScheduler(db.Client, s.clock, accountsService.Autopay, log)
	s.stopped.Add(1)
	go func() {
		defer s.stopped.Done()
		s.sweep(bg, accountsService)
	}()
	s.stopped.Add(1)
	go func() {
		defer s.stopped.Done()
		accountsService.RunReconciler(bg)
	}()
	if !cfg.ManualBilling {
		s.stopped.Add(1)
		go func() {
			defer s.stopped.Done()
			scheduler.Start(bg)
		}()
	}
	keyring := cfg.Keyring
	if !keyring.Enabled() && cfg.Sandbox {
		if keyring, err = sealed.SandboxKeyring(context.Background(), db.Client); err != nil {
			s.cancel() // stops what New started: sweeps, reconciler, listener
			return nil, fmt.Errorf("loading sandbox mode's secrets key: %w", err)
		}
	}
	cfg.Keyring = keyring // the one keyring: webhooks and the CLN API
	webhookMetrics := events.NewMetrics()
	s.metrics.registry.MustRegister(webhookMetrics.Collectors()...)
	s.metrics.registry.MustRegister(pendingDeliveries(db.SQL))
	s.staleKick = make(chan struct{}, 1)
	clockMoved := func() {
		scheduler.Kick()
		s.kickStale()
	}
	if !cfg.WebhooksDisabled {
		webhookConfig := cfg.Webhooks
		runner, err := events.NewRunner(db, s.clock, keyring, webhookConfig, webhookMetrics, log)
		if err != nil {
			s.cancel()
			return nil, fmt.Errorf("starting webhook delivery: %w", err)
		}
		if err := runner.Start(bg); err != nil {
			s.cancel()
			return nil, fmt.Errorf("starting webhook delivery: %w", err)
		}
		s.stopRunner = runner.Stop
		clockMoved = func() {
			scheduler.Kick()
			s.kickStale()
			go runner.Kick(clock.NewContext(bg, s.clock))
		}
		if testClock != nil {
			// Another instance may move the shared test clock: when this
			// one's follows it (testclock.Follow), kick here too, so the
			// retries this instance snoozed by the old time run now.
			s.stopped.Add(1)
			go func() {
				defer s.stopped.Done()
				s.followClockMoves(bg, testClock, func() {
					s.kickStale()
					runner.Kick(clock.NewContext(bg, s.clock))
				})
			}()
		}
	}
	s.stopped.Add(1)
	go func() {
		defer s.stopped.Done()
		s.sweepStale(bg, cfg.StaleAfter)
	}()
	resolver := &graph.Resolver{
		Client:          db.Client,
		TestClock:       testClock,
		StaleAfter:      cfg.StaleAfter,
		Accounts:        accountsService,
		CheckIns:        s.checkIns,
		Hub:             s.hub,
		CheckInInterval: cfg.CheckInInterval,
		BackupLinks:     licensing.BackupLinks{BaseURL: cfg.BackupManageURL, Secret: secret, TTL: licensing.DefaultBackupLinkTTL},
		InvoiceLinks:    invoiceLinks,
		BackupMinGB:     cfg.BackupSizes.MinGB,
		BackupMaxGB:     cfg.BackupSizes.MaxGB,
		RecheckEvery:    cfg.SubscriptionRecheck,
		ClockMoved:      clockMoved,
		Webhooks:        events.Webhooks{Keyring: keyring, AllowPrivate: cfg.Webhooks.AllowPrivate, Sandbox: cfg.Sandbox},
		Log:             log,
	}
	if db.Postgres() {
		// Logout and revokeAPIToken reach the other instances' subscriptions.
		resolver.NotifyRevoked = func(ctx context.Context, tx *ent.Tx) error { return live.NotifyRevoked(ctx, tx, origin) }
	}

	mux := http.NewServeMux()
	gql := s.graphQLHandler(resolver)
	mux.Handle("/graphql", s.metrics.instrument("/graphql", s.limitBody(gql)))
	mux.Handle(CheckInPath, s.metrics.instrument(CheckInPath, s.limitBody(http.HandlerFunc(s.leanCheckIn))))
	mux.Handle("/healthz", s.metrics.instrument("/healthz", http.HandlerFunc(s.healthz)))
	mux.Handle("/readyz", s.metrics.instrument("/readyz", http.HandlerFunc(s.readyz)))
	mux.Handle("/metrics", s.metrics.handler())
	mux.Handle("GET "+SchemaPath, s.metrics.instrument(SchemaPath, schemaHandler()))
	payments := &checkout.Handler{Accounts: accountsService, Provider: accountsService.Checkout, Stripe: cfg.StripeWebhook, Clock: s.clock, Log: log}
	// codedRefusals: their 404 and 405 are coded GraphQL errors (unrouted.go).
	mux.Handle("/webhooks/payments/"+accountsService.Checkout.Name(), s.metrics.instrument("/webhooks/payments", codedRefusals(http.HandlerFunc(payments.Webhook), http.MethodPost)))
	mux.Handle("/webhooks/payments/stripe", s.metrics.instrument("/webhooks/payments", codedRefusals(http.HandlerFunc(payments.StripeWebhook), http.MethodPost)))
	mux.Handle(checkout.SandboxPath, codedRefusals(http.HandlerFunc(payments.SandboxPage), "GET, POST"))
	mux.Handle(accounts.CheckoutPagePrefix, s.metrics.instrument("/checkout", codedRefusals(http.HandlerFunc(payments.Pages), http.MethodGet)))
	mux.Handle(invoicepdf.PathPrefix, s.metrics.instrument("/invoices", codedRefusals(invoicepdf.Handler(db.Client, invoiceLinks, cfg.Issuer), "GET, HEAD")))
	if err := s.mountCLNAPI(mux, &cfg, resolver); err != nil {
		s.Close() // stops what New started: workers, sweeps, the listener
		return nil, err
	}
	ui := codedRefusals(graphiql.Handler(), "GET, HEAD")
	mux.Handle("/{$}", ui)
	mux.Handle("/graphiql/", ui)
	mux.Handle(unroutedPattern, unrouted(mux)) // what no route takes (unrouted.go)
	for pattern, h := range cfg.Routes {
		mux.Handle(pattern, s.metrics.instrument(pattern, h))
	}

	var h http.Handler = mux
	h = s.authenticate(h)
	h = s.withDeadline(h) // around authenticate: checking a token reads the database too
	h = s.withRequest(h)
	if len(cfg.CORSOrigins) > 0 {
		h = cors.New(cors.Options{
			AllowedOrigins:   cfg.CORSOrigins,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodOptions},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"},
			ExposedHeaders:   []string{"X-Request-ID"},
			AllowCredentials: false,
			MaxAge:           600,
		}).Handler(h)
	}
	if tracing.Enabled() {
		h = tracing.Handler(h, func(r *http.Request) string {
			if _, pattern := mux.Handler(r); pattern != "" && pattern != unroutedPattern {
				return pattern
			}
			return "(no route)"
		})
	}
	s.handler = h
	return s, nil
}

// sweep removes expired sessions, login attempts and idempotency keys, and
// events past their retention, every ten minutes (of wall time), until ctx
// ends.
func (s *Server) sweep(ctx context.Context, svc *accounts.Service) {
	ticker := time.NewTicker(10 * time.Minute)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			n, err := svc.Sweep(clock.NewContext(ctx, s.clock), s.db.Client)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("sweeping expired rows", "err", err)
			} else if n > 0 {
				s.log.Debug("swept expired rows", "rows", n)
			}
			n, err = events.Prune(clock.NewContext(ctx, s.clock), s.db.Client, s.cfg.EventRetention)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("pruning old events", "err", err)
			} else if n > 0 {
				s.log.Debug("pruned old events", "events", n)
			}
		}
	}
}

// followClockMoves calls moved whenever the test clock's time changes,
// looking every second, until ctx ends.
func (s *Server) followClockMoves(ctx context.Context, c *clock.Frozen, moved func()) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	last := c.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if now := c.Now(); !now.Equal(last) {
			last = now
			moved()
		}
	}
}

// kickStale makes the stale sweep run now: the sandbox clock moved.
func (s *Server) kickStale() {
	select {
	case s.staleKick <- struct{}{}:
	default:
	}
}

// sweepStale writes license.stale for licenses that fell silent, every
// minute (of wall time) and when the test clock moves, on every instance;
// the sweep's conditional update keeps two instances from writing one event
// twice.
func (s *Server) sweepStale(ctx context.Context, window time.Duration) {
	ticker := time.NewTicker(time.Minute)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.staleKick:
		}
		n, err := events.SweepStale(licensing.WithStaleAfter(clock.NewContext(ctx, s.clock), window), s.db.Client, window)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sweeping stale licenses", "err", err)
		} else if n > 0 {
			s.log.Debug("stale licenses", "events", n)
		}
	}
}

// Listening is closed once this instance receives other instances' events.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Close stops the background work: pending check-ins are written and
// answered, and the LISTEN connection is closed.
func (s *Server) Close() {
	// The check-in writer and the webhook workers stop side by side: each
	// is bounded on its own, and a frozen database holds both.
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		s.checkIns.Close()
	}()
	if s.stopRunner != nil {
		// Attempts in flight get their deliveryTimeout to finish; what is
		// cut short is worked again by River (the rows say what is left).
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := s.stopRunner(ctx); err != nil {
			s.log.Warn("stopping webhook delivery", "err", err)
		}
		cancel()
	}
	writers.Wait()
	s.cancel()
	// A database that stopped answering without closing its connections
	// holds lib/pq's statements whatever their contexts say (the LISTEN
	// connection's ping, for one, and Listener.Close waits for it): the
	// stop must not wait with them, nor send more statements to it.
	stopped := make(chan struct{})
	go func() {
		s.stopped.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
		if s.stmts != nil {
			s.stmts.close()
		}
	case <-time.After(backgroundStopTimeout):
		s.log.Error("stopping: background work still waits for the database; the process ends without it", "timeout", backgroundStopTimeout)
	}
}

// backgroundStopTimeout bounds how long Close waits for the background
// work (sweeps, the reconciler, the LISTEN connection) to end.
const backgroundStopTimeout = 10 * time.Second

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) graphQLHandler(resolver *graph.Resolver) http.Handler {
	h := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: resolver}))
	h.AddTransport(transport.Websocket{
		Implementation: closeCodes{WebsocketImplementation: websocketImplementation{ // websocket_conn.go
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: s.websocketOrigins()},
			streams:       s.streams,
		}, maxRunning: s.cfg.MaxSubscriptionsPerSocket}, // close codes and operation ids (websocket_close.go)
		KeepAlivePingInterval: 10 * time.Second,
		InitFunc:              s.websocketInit,
		InitTimeout:           s.cfg.WebsocketInitTimeout, // 4408 (websocket_close.go)
	})
	h.AddTransport(options{}) // OPTIONS; HEAD is refused below, with Allow
	// Before POST: both answer POST requests. Its streams end when the
	// server stops (shutdown.go).
	h.AddTransport(stoppableSSE{streams: s.streams})
	h.AddTransport(jsonGET{})  // gqlgen's GET and POST, minus the second
	h.AddTransport(jsonPOST{}) // encoding pass over the data (transport_json.go)
	h.AddTransport(refused{})  // last: a coded 405/415 for what no transport takes
	// Parsed and validated documents, by their text (querycache.go).
	h.SetQueryCache(pageSizeCache{newDocumentCache()})
	if tracing.Enabled() {
		h.Use(tracing.GraphQL{}) // first: the operation's span covers the rest
	}
	h.Use(newPersistedQueries()) // first: it may supply the query text
	// Before the other operation interceptors: it times them all.
	h.Use(operationTimer{s.metrics})
	h.Use(extension.Introspection{})
	h.Use(&documentLimits{})
	h.Use(queryLimits{maxDepth: s.cfg.MaxDepth, maxComplexity: s.cfg.MaxComplexity})
	h.Use(transactioner{s: s})
	h.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		caller := viewer.FromContext(ctx)
		if onWebsocket(ctx) {
			// A socket authenticates once (upgrade header or connection_init);
			// every operation on it checks that the credential still holds.
			if err := auth.Recheck(ctx, s.db.Client, caller); err != nil {
				return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{s.presentError(ctx, err)}})
			}
		}
		// Each operation gets its own caller, so a login inside one operation
		// changes only that operation, never the socket's other operations.
		ctx = viewer.NewContext(ctx, caller)
		return next(graph.WithOperationMemo(ctx))
	})
	// After the caller is settled: a subscription's event is rendered once
	// for every subscription with the same document, variables and caller.
	h.Use(graph.SharedRenderings{})
	if s.db.Postgres() && !s.cfg.InterpretedReads {
		// After the operation middleware above: the caller is settled.
		compiler := sqlgraph.New(s.cfg.StaleAfter, resolver.BackupLinks, resolver.InvoiceLinks)
		s.stmts = newStmtCache(s.db.SQL)
		h.AroundOperations(s.compiledOperations(compiler, s.stmts))
		h.AroundRootFields(s.compiledReads(compiler, s.stmts))
	}
	h.AroundFields(authorize)
	h.SetErrorPresenter(s.presentError)
	h.SetRecoverFunc(s.recoverPanic)
	return h
}

// websocketOrigins turns the CORS origins into the host patterns the
// websocket library checks; the same origin is always allowed.
func (s *Server) websocketOrigins() []string {
	var hosts []string
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" {
			return []string{"*"}
		}
		if _, host, ok := strings.Cut(o, "://"); ok {
			hosts = append(hosts, host)
		}
	}
	return hosts
}

// websocketInit authenticates a websocket from its connection_init payload.
// The connection_ack carries no payload: echoing the client's would send its
// bearer token back over the wire. A refused token closes the socket with
// 4403 Forbidden (graphql-transport-ws); a credential that cannot be checked
// now (database unreachable) closes it with 1013 Try Again Later. On the
// legacy graphql-ws protocol gqlgen first sends connection_error with the
// message, then closes with the same code.
func (s *Server) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	ctx = context.WithValue(ctx, websocketKey{}, true)
	token, ok := bearer(payload.Authorization())
	if !ok {
		// The upgrade request's own Authorization header, if any, decided the
		// caller; otherwise only @public fields will answer.
		return ctx, nil, nil
	}
	v, err := auth.Authenticate(ctx, s.db.Client, token)
	if errors.Is(err, auth.ErrInvalidToken) {
		s.metrics.unauthenticated.WithLabelValues("invalid_token").Inc()
		ctx = transport.WithWebsocketCloseCode(ctx, closeForbidden)
		return transport.AppendCloseReason(ctx, "Forbidden: invalid or expired token"), nil, err
	}
	if err != nil {
		s.log.ErrorContext(ctx, "websocket connection_init", "err", err)
		ctx = transport.WithWebsocketCloseCode(ctx, closeTryAgainLater)
		return transport.AppendCloseReason(ctx, "Try again later"), nil, errors.New("the credential cannot be checked now: try again later")
	}
	return viewer.NewContext(ctx, v), nil, nil // the caller for every operation on this socket
}

// origin is the configured public URL, or the scheme and host the request
// came in on (the scheme from X-Forwarded-Proto only behind a trusted proxy).
func (s *Server) origin(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" && s.trustedPeer(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type websocketKey struct{}

func onWebsocket(ctx context.Context) bool {
	on, _ := ctx.Value(websocketKey{}).(bool)
	return on
}

// withRequest gives every request an id, the business clock, the client's
// address and a log line.
func (s *Server) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := clock.Wall()
		id := requestID(r.Header.Get("X-Request-ID"))
		w.Header().Set("X-Request-ID", id)
		ctx := reqinfo.NewContext(r.Context(), reqinfo.Info{ID: id, ClientAddr: s.clientAddr(r), Origin: s.origin(r)})
		ctx = clock.NewContext(ctx, s.clock)
		// Events that show a license's status use the configured window.
		ctx = licensing.WithStaleAfter(ctx, s.cfg.StaleAfter)
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			ctx = idempotency.WithHeaderKey(ctx, key)
		}
		if !s.log.Enabled(ctx, slog.LevelDebug) {
			// The log line's arguments and the status recorder cost a
			// check-in several allocations, for a line nobody reads.
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		s.log.DebugContext(ctx, "request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start))
	})
}

// authenticate puts the bearer token's viewer into the context. A request
// without a token is anonymous; one with a bad token is refused outright.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		// The CLN API authenticates by its own token parameter; a header a
		// client or proxy adds there is not clnd's to judge.
		// The probes and the metrics need no viewer: a scraper's or load
		// balancer's own Authorization (Basic, say) is not clnd's to refuse,
		// and checking it would need the database they report on.
		if header == "" || strings.HasPrefix(r.URL.Path, clnapi.Prefix) || unauthenticatedPaths[r.URL.Path] {
			next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), viewer.Viewer{})))
			return
		}
		// A PDF download answers 404 to anyone but the owner or an operator,
		// a bad token included: it does not even say that the token is bad.
		download := strings.HasPrefix(r.URL.Path, invoicepdf.PathPrefix)
		anonymous := func() { next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), viewer.Viewer{}))) }
		token, ok := bearer(header)
		if !ok && download {
			anonymous()
			return
		}
		if !ok {
			s.metrics.unauthenticated.WithLabelValues("malformed").Inc()
			// RFC 6750: a 401 names the scheme it wants.
			w.Header().Set("WWW-Authenticate", `Bearer realm="clnd", error="invalid_request"`)
			writeError(w, http.StatusUnauthorized, apperr.New(apperr.Unauthenticated, "the Authorization header must be \"Bearer <token>\""))
			return
		}
		v, err := auth.Authenticate(r.Context(), s.db.Client, token)
		// The database did not answer (in time: the request's deadline
		// passed, withDeadline): whether the token is good is not known.
		unavailable := store.NotAnswered(r.Context(), err)
		if err != nil && download && !unavailable {
			anonymous()
			return
		}
		if err != nil {
			e, ok := apperr.As(err)
			if !ok && unavailable {
				writeUnavailable(w)
				return
			}
			if !ok {
				s.log.ErrorContext(r.Context(), "authenticating", "err", err)
				e = apperr.New(apperr.Internal, "internal error (request %s)", reqinfo.FromContext(r.Context()).ID)
				writeError(w, http.StatusInternalServerError, e)
				return
			}
			s.metrics.unauthenticated.WithLabelValues("invalid_token").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="clnd", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, e)
			return
		}
		next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), v)))
	})
}

func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// limitBody answers 413 for a request body over the limit before anything
// parses it. Bodies are small (1 MiB by default), so reading one whole is
// cheaper than teaching every transport what a truncated read means.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The refusal is built only when needed: formatting it for every
		// request was two allocations on each check-in.
		tooLarge := func() *apperr.Error {
			return apperr.New(apperr.BadUserInput, "the request body is over %d bytes", s.cfg.MaxBodyBytes)
		}
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, tooLarge())
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			// A body that stops arriving ends the request instead of holding
			// its connection and goroutine for ever (the server's
			// ReadTimeout would also end websockets and event streams).
			// net/http lifts the deadline when the body has been read to its
			// end (its background read starts), which every success below
			// does: a streamed answer may take its time.
			_ = http.NewResponseController(w).SetReadDeadline(clock.Wall().Add(s.cfg.BodyTimeout))
			var body []byte
			var err error
			if r.ContentLength >= 0 && r.ContentLength <= preallocatedBody {
				// net/http reads no further than Content-Length: the body is
				// exactly this long, or cut short (an error). Only small
				// bodies are allocated before they arrive, so a client cannot
				// make clnd hold a megabyte per connection by promising one.
				body = make([]byte, r.ContentLength)
				_, err = io.ReadFull(r.Body, body)
			} else {
				body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
			}
			var maxErr *http.MaxBytesError
			switch {
			case errors.As(err, &maxErr):
				writeError(w, http.StatusRequestEntityTooLarge, tooLarge())
				return
			case isTimeout(err):
				w.Header().Set("Connection", "close")
				writeError(w, http.StatusRequestTimeout, s.bodyTimedOut())
				return
			case err != nil:
				writeError(w, http.StatusBadRequest, apperr.New(apperr.BadUserInput, "the request body could not be read"))
				return
			}
			if escapesNUL(body) {
				// PostgreSQL cannot store a NUL in text; refuse it here, once,
				// rather than as a database error in whatever stores it.
				writeError(w, http.StatusBadRequest, apperr.New(apperr.BadUserInput, "strings cannot contain NUL characters"))
				return
			}
			if !utf8.Valid(body) {
				// JSON is UTF-8; encoding/json would read each bad byte as
				// U+FFFD and store text the client never sent.
				writeError(w, http.StatusBadRequest, apperr.New(apperr.BadUserInput, "the request body is not UTF-8"))
				return
			}
			r.Body = &heldBody{Reader: bytes.NewReader(body), bytes: body}
		}
		next.ServeHTTP(w, r)
	})
}

// requestID is a request's ID: the X-Request-ID its client sent, unless
// empty or over 64 bytes, or a new one. withRequest and lean connections
// both take it so.
func requestID(sent string) string {
	if sent == "" || len(sent) > 64 {
		return ids.New("req")
	}
	return sent
}

// bodyTimedOut refuses a body that did not arrive within BodyTimeout.
func (s *Server) bodyTimedOut() *apperr.Error {
	return apperr.New(apperr.BadUserInput, "the request body did not arrive within %s", s.cfg.BodyTimeout)
}

// isTimeout reports whether a read ended at its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// preallocatedBody is the largest body limitBody allocates in one piece
// from its Content-Length, before reading it.
const preallocatedBody = 4 << 10 // about what net/http already holds per connection

// heldBody is a request body limitBody read whole.
type heldBody struct {
	*bytes.Reader
	bytes []byte
}

func (*heldBody) Close() error { return nil }

// bodyBytes returns the body limitBody read, without copying it again.
func bodyBytes(r *http.Request) ([]byte, error) {
	if held, ok := r.Body.(*heldBody); ok {
		return held.bytes, nil
	}
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(r.Body)
}

// escapesNUL finds \u0000 in JSON or GraphQL text, unless its backslash is
// itself escaped. It looks only at the backslashes before each \u0000, so
// it reads a body once (a regular expression took 70 ms for 1 MiB).
func escapesNUL(body []byte) bool {
	for {
		i := bytes.Index(body, []byte(`\u0000`))
		if i < 0 {
			return false
		}
		backslashes := 0
		for j := i - 1; j >= 0 && body[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return true
		}
		body = body[i+1:]
	}
}

// writeError answers a request that never reached GraphQL in GraphQL's error shape.
// unauthenticatedPaths answer anyone, whatever Authorization they send.
var unauthenticatedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func writeError(w http.ResponseWriter, status int, e *apperr.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(e))
}

// errorBody is the JSON body of a refusal written before GraphQL runs, in
// gqlerror's order (message, then extensions) as every GraphQL answer.
func errorBody(e *apperr.Error) []byte {
	ext := map[string]any{"code": string(e.Code)}
	if e.Field != "" {
		ext["field"] = e.Field
	}
	return errorsJSON(&gqlerror.Error{Message: e.Message, Extensions: ext})
}

// errorsJSON is the body {"errors":[err]} of an answer that carries no
// data, a line of its own.
func errorsJSON(err *gqlerror.Error) []byte {
	body, _ := json.Marshal(struct {
		Errors gqlerror.List `json:"errors"`
	}{gqlerror.List{err}})
	return append(body, '\n')
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 503 with the reason (unavailable.go) while the database
// cannot serve requests.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if reason := s.readiness(r.Context(), 2*time.Second); reason != "" {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + reason + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Run serves until ctx ends, then drains in-flight requests for up to 15 s.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller has bound already (so that a busy
// port is reported before anything says it is serving).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
	}
	// Shutdown closes the listeners, then this closes the websockets with
	// 1001 and ends the event streams, which it would not (shutdown.go).
	srv.RegisterOnShutdown(s.streams.goAway)
	errc := make(chan error, 1)
	lean := s.leanListener(ln)
	if lean != nil {
		ln = lean
	}
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", "15s")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if lean != nil {
		lean.wait(shutdownCtx) // check-ins in flight on lean connections are answered
	}
	s.streams.wait(shutdownCtx) // the clients have their close frames before the process ends
	s.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Subscribers is how many check-in subscriptions this instance holds.
func (s *Server) Subscribers() int {
	n, _, _ := s.hub.Stats()
	return n
}

// CheckIns is this instance's check-in recorder.
func (s *Server) CheckIns() *checkin.Service { return s.checkIns }

// Hub is this instance's event hub.
func (s *Server) Hub() *live.Hub { return s.hub }
