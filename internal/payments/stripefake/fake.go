// Package stripefake is a local stand-in for Stripe's HTTP API, for tests:
// an httptest server that speaks the part of the documented API clnd's
// Stripe gateway uses (customers, payment methods, off-session
// PaymentIntents, refunds), honours Idempotency-Key as Stripe does, knows
// Stripe's test PaymentMethods (pm_card_visa, pm_card_chargeDeclined, ...),
// signs webhook events like Stripe, and can be told to fail or lose
// responses so that retries can be tested.
package stripefake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fake is a running fake Stripe. Point stripe-go at URL with SecretKey;
// verify its webhook events with WebhookSecret.
type Fake struct {
	URL           string
	SecretKey     string
	WebhookSecret string

	srv *httptest.Server

	mu           sync.Mutex
	customers    map[string]*customer
	customerList []*customer
	methods      map[string]*paymentMethod
	intents      map[string]*paymentIntent
	intentList   []*paymentIntent
	charges      map[string]*charge
	refunds      []*refund
	idempotent   map[string]*savedResponse
	events       [][]byte
	webhookURL   string
	outbox       [][]byte // raised, not yet posted to webhookURL
	deliveries   []Delivery
	requests     int
	failNext     int
	failStatus   int
	loseNext     int
	dropNext     int
	now          func() time.Time
	closed       chan struct{} // releases lost responses on Close
}

// New starts a fake. With a non-nil tb it is closed when the test ends.
func New(tb testing.TB) *Fake {
	f := &Fake{
		SecretKey:     "sk_test_" + newID("fake"),
		WebhookSecret: "whsec_" + newID("fake"),
		customers:     map[string]*customer{},
		methods:       map[string]*paymentMethod{},
		intents:       map[string]*paymentIntent{},
		charges:       map[string]*charge{},
		idempotent:    map[string]*savedResponse{},
		now:           time.Now,
		closed:        make(chan struct{}),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	if tb != nil {
		tb.Cleanup(f.Close)
	}
	return f
}

// Close stops the server.
func (f *Fake) Close() {
	close(f.closed)
	f.srv.Close()
}

// response is an answer before it is written, so that it can be saved for
// an idempotent replay, or lost.
type response struct {
	status int
	body   map[string]any
}

func success(body map[string]any) response { return response{http.StatusOK, body} }

// stripeError is Stripe's error shape: {"error": {"type", "code", ...}}.
func stripeError(status int, typ, code, message string, extra map[string]any) response {
	e := map[string]any{"type": typ, "message": message}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	for k, v := range extra {
		e[k] = v
	}
	return response{status, map[string]any{"error": e}}
}

func invalidRequest(status int, code, param, message string) response {
	var extra map[string]any
	if param != "" {
		extra = map[string]any{"param": param}
	}
	return stripeError(status, "invalid_request_error", code, message, extra)
}

// fate is what becomes of an answer.
type fate int

const (
	answered fate = iota
	lost          // never answered; the client times out
	dropped       // the connection closes without an answer
)

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.write(w, invalidRequest(400, "", "", "Invalid request body."), false)
		return
	}
	res, replayed, fate := f.process(r)
	f.deliver()
	// Unless answered, the request was processed all the same: the money
	// moved and the client never hears of it.
	switch fate {
	case lost:
		select {
		case <-r.Context().Done(): // the client gave up
		case <-f.closed:
		}
		dropConnection(w)
	case dropped:
		dropConnection(w)
	default:
		f.write(w, res, replayed)
	}
}

// process answers r under the lock and decides the answer's fate.
func (f *Fake) process(r *http.Request) (res response, replayed bool, _ fate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.failNext > 0 {
		// An outage before the request reaches the API: nothing is done
		// and nothing is saved for the idempotency key.
		f.failNext--
		return outage(f.failStatus), false, answered
	}
	if r.Header.Get("Authorization") != "Bearer "+f.SecretKey {
		return invalidRequest(http.StatusUnauthorized, "", "", "Invalid API Key provided."), false, answered
	}
	res, replayed = f.handleIdempotent(r)
	switch {
	case f.loseNext > 0:
		f.loseNext--
		return res, replayed, lost
	case f.dropNext > 0:
		f.dropNext--
		return res, replayed, dropped
	}
	return res, replayed, answered
}

func outage(status int) response {
	if status == http.StatusTooManyRequests {
		return invalidRequest(status, "rate_limit", "", "Too many requests hit the API too quickly.")
	}
	return stripeError(status, "api_error", "", "An unknown error occurred.", nil)
}

func (f *Fake) write(w http.ResponseWriter, res response, replayed bool) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", newID("req"))
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(res.status)
	json.NewEncoder(w).Encode(res.body)
}

// dropConnection closes the connection without an answer, as a network
// failure after the server did the work would.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err) // httptest's HTTP/1 server always allows hijacking
	}
	conn.Close()
}

// route dispatches an authenticated request; f.mu is held.
func (f *Fake) route(r *http.Request, idempotencyKey string) response {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/customers":
		return f.createCustomer(r.PostForm)
	case r.Method == "GET" && len(parts) == 3 && parts[1] == "payment_methods":
		return f.retrievePaymentMethod(parts[2])
	case r.Method == "POST" && len(parts) == 4 && parts[1] == "payment_methods" && parts[3] == "attach":
		return f.attachPaymentMethod(parts[2], r.PostForm)
	case r.Method == "POST" && r.URL.Path == "/v1/payment_intents":
		return f.createPaymentIntent(r.PostForm, idempotencyKey)
	case r.Method == "GET" && len(parts) == 3 && parts[1] == "payment_intents":
		return f.retrievePaymentIntent(parts[2])
	case r.Method == "POST" && r.URL.Path == "/v1/refunds":
		return f.createRefund(r.PostForm, idempotencyKey)
	}
	return invalidRequest(http.StatusNotFound, "", "",
		"Unrecognized request URL ("+r.Method+": "+r.URL.Path+").")
}
