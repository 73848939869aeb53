// Package paypalfake is a local stand-in for PayPal's REST API, for tests:
// an httptest server speaking the documented subset clnd uses (OAuth2
// client credentials, Orders v2 create/get/capture, capture refunds,
// verify-webhook-signature) and behaving like PayPal where it matters to
// money: PayPal-Request-Id idempotency, capture only after the payer
// approved, each order captured once, refunds bounded by what remains.
//
// A test plays the payer (Approve, or a browser following the approve
// link), injects faults (FailNext, LoseResponses, DeclineNext), inspects
// what moved (Captures, Refunds) and sends webhooks that verify only if the
// fake really sent them.
package paypalfake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Fake is a running fake PayPal. Its zero value is not usable; call New.
type Fake struct {
	// URL is the API base, for paypal.Config.APIURL.
	URL string
	// The credentials and webhook ID the fake accepts.
	ClientID, ClientSecret, WebhookID string

	srv  *httptest.Server
	done chan struct{} // closed by Close; releases held (lost) responses

	mu            sync.Mutex
	tokens        map[string]time.Time // access token → expiry
	tokenLifetime time.Duration
	tokenRequests int
	apiCalls      int
	orders        map[string]*order
	orderIDs      []string // creation order
	captures      map[string]*Capture
	captureIDs    []string
	refunds       []*Refund
	idempotent    map[string]answer // route + PayPal-Request-Id → first 2xx answer
	sent          map[string]transmission
	eventsURL     string // SendEventsTo
	deliveries    []Delivery
	faults        faults
}

// New starts a fake PayPal; Close stops it.
func New() *Fake {
	f := &Fake{
		ClientID:      "fake-client-" + randomID(8),
		ClientSecret:  "fake-secret-" + randomID(16),
		WebhookID:     randomID(17),
		done:          make(chan struct{}),
		tokens:        map[string]time.Time{},
		tokenLifetime: 9 * time.Hour, // PayPal's expires_in is 32400 s
		orders:        map[string]*order{},
		captures:      map[string]*Capture{},
		idempotent:    map[string]answer{},
		sent:          map[string]transmission{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/oauth2/token", f.token)
	mux.HandleFunc("POST /v2/checkout/orders", f.api(f.createOrder, true))
	mux.HandleFunc("GET /v2/checkout/orders/{id}", f.api(f.getOrder, false))
	mux.HandleFunc("POST /v2/checkout/orders/{id}/capture", f.api(f.captureOrder, true))
	mux.HandleFunc("POST /v2/payments/captures/{id}/refund", f.api(f.refundCapture, true))
	mux.HandleFunc("POST /v1/notifications/verify-webhook-signature", f.api(f.verifySignature, false))
	// The payer's side, on paypal.com in real life.
	mux.HandleFunc("GET /checkoutnow", f.approvePage)
	mux.HandleFunc("GET /checkoutnow/cancel", f.cancelPage)
	f.srv = httptest.NewServer(mux)
	f.URL = f.srv.URL
	return f
}

// Close releases held responses and stops the server.
func (f *Fake) Close() {
	close(f.done)
	f.srv.Close()
}

// answer is an API response: a status and a JSON body, and the webhook
// events the call raised (posted before the answer, see SendEventsTo).
type answer struct {
	status int
	body   []byte
	events []signedEvent
}

func jsonAnswer(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("paypalfake: %v", err))
	}
	return answer{status: status, body: b}
}

// apiError is PayPal's error shape: a name, a message, the fine-grained
// issue in details, and a debug_id.
func apiError(status int, name, issue, description string) answer {
	messages := map[string]string{
		"INVALID_REQUEST":        "Request is not well-formed, syntactically incorrect, or violates schema.",
		"AUTHENTICATION_FAILURE": "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
		"VALIDATION_ERROR":       "Invalid request - see details.",
		"RESOURCE_NOT_FOUND":     "The specified resource does not exist.",
		"UNPROCESSABLE_ENTITY":   "The requested action could not be performed, semantically incorrect, or failed business validation.",
		"INTERNAL_SERVER_ERROR":  "An internal server error occurred.",
		"RATE_LIMIT_REACHED":     "Too many requests. Blocked due to rate limiting.",
		"SERVICE_UNAVAILABLE":    "Service Unavailable.",
	}
	body := map[string]any{"name": name, "message": messages[name], "debug_id": randomHex(13)}
	if issue != "" {
		body["details"] = []map[string]string{{"issue": issue, "description": description}}
	}
	return jsonAnswer(status, body)
}

func (a answer) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Paypal-Debug-Id", randomHex(13))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID looks like PayPal's IDs ("5O190127TN364715T"). Test data only:
// math/rand is enough.
func randomID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
	}
	return string(b)
}

func randomHex(n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[rand.IntN(len(hex))]
	}
	return string(b)
}
