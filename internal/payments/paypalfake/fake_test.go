package paypalfake_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/payments/paypalfake"
)

func start(t *testing.T) *paypalfake.Fake {
	t.Helper()
	f := paypalfake.New()
	t.Cleanup(f.Close)
	return f
}

func token(t *testing.T, f *paypalfake.Fake) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.ClientID, f.ClientSecret)
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if status := do(t, req, &out); status != 200 || out.AccessToken == "" || out.TokenType != "Bearer" || out.ExpiresIn < 0 {
		t.Fatalf("token: %d %+v", status, out)
	}
	return out.AccessToken
}

// do sends req and decodes the JSON answer into out (if not nil).
func do(t *testing.T, req *http.Request, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
	}
	return resp.StatusCode
}

// call is an authenticated API call.
func call(t *testing.T, f *paypalfake.Fake, bearer, method, path, requestID, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	if requestID != "" {
		req.Header.Set("PayPal-Request-Id", requestID)
	}
	return do(t, req, out)
}

const orderBody = `{"intent":"CAPTURE","purchase_units":[{"reference_id":"co_1","amount":{"currency_code":"USD","value":"12.34"}}],
	"payment_source":{"paypal":{"experience_context":{"return_url":"https://clnd.example/r","cancel_url":"https://clnd.example/c"}}}}`

type orderJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Links  []struct{ Href, Rel string }
}

type errorJSON struct {
	Name    string `json:"name"`
	DebugID string `json:"debug_id"`
	Details []struct{ Issue string }
}

func TestTokenNeedsClientCredentials(t *testing.T) {
	f := start(t)
	for name, mutate := range map[string]func(*http.Request){
		"no basic auth": func(r *http.Request) { r.Header.Del("Authorization") },
		"wrong secret":  func(r *http.Request) { r.SetBasicAuth(f.ClientID, "nope") },
	} {
		req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(f.ClientID, f.ClientSecret)
		mutate(req)
		var out struct{ Error string }
		if status := do(t, req, &out); status != 401 || out.Error != "invalid_client" {
			t.Errorf("%s: %d %+v", name, status, out)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/oauth2/token", strings.NewReader("grant_type=password"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.ClientID, f.ClientSecret)
	if status := do(t, req, nil); status != 400 {
		t.Errorf("grant_type=password: %d", status)
	}
	if f.TokenRequests() != 0 {
		t.Fatal("a token was handed out")
	}
}

func TestAPINeedsABearerToken(t *testing.T) {
	f := start(t)
	var e errorJSON
	if status := call(t, f, "made-up", http.MethodPost, "/v2/checkout/orders", "", orderBody, &e); status != 401 || e.Name != "AUTHENTICATION_FAILURE" {
		t.Fatalf("%d %+v", status, e)
	}
	f.SetTokenLifetime(0)
	expired := token(t, f)
	e = errorJSON{}
	if status := call(t, f, expired, http.MethodPost, "/v2/checkout/orders", "", orderBody, &e); status != 401 {
		t.Fatalf("expired token: %d %+v", status, e)
	}
	if len(f.Orders()) != 0 {
		t.Fatal("order created without a valid token")
	}
}

func TestRequestIDIdempotency(t *testing.T) {
	f := start(t)
	bearer := token(t, f)
	var first, replay, other orderJSON
	if status := call(t, f, bearer, http.MethodPost, "/v2/checkout/orders", "co_1", orderBody, &first); status != 201 || first.Status != "PAYER_ACTION_REQUIRED" {
		t.Fatalf("create: %d %+v", status, first)
	}
	if status := call(t, f, bearer, http.MethodPost, "/v2/checkout/orders", "co_1", orderBody, &replay); status != 200 || replay.ID != first.ID {
		t.Fatalf("replay: %d %+v, first %s", status, replay, first.ID)
	}
	call(t, f, bearer, http.MethodPost, "/v2/checkout/orders", "co_2", orderBody, &other)
	if other.ID == first.ID || len(f.Orders()) != 2 {
		t.Fatalf("another request ID should be another order: %s, %d orders", other.ID, len(f.Orders()))
	}
}

func TestOrderLifecycle(t *testing.T) {
	f := start(t)
	bearer := token(t, f)
	var o orderJSON
	call(t, f, bearer, http.MethodPost, "/v2/checkout/orders", "co_1", orderBody, &o)

	var e errorJSON
	if status := call(t, f, bearer, http.MethodPost, "/v2/checkout/orders/"+o.ID+"/capture", "pa_1", "{}", &e); status != 422 || e.Name != "UNPROCESSABLE_ENTITY" || e.Details[0].Issue != "ORDER_NOT_APPROVED" || e.DebugID == "" {
		t.Fatalf("capture before approval: %d %+v", status, e)
	}
	// A refused request is not remembered: the same request ID works once approved.
	if err := f.Approve(o.ID); err != nil {
		t.Fatal(err)
	}
	var done orderJSON
	if status := call(t, f, bearer, http.MethodPost, "/v2/checkout/orders/"+o.ID+"/capture", "pa_1", "{}", &done); status != 201 || done.Status != "COMPLETED" {
		t.Fatalf("capture: %d %+v", status, done)
	}
	e = errorJSON{}
	if status := call(t, f, bearer, http.MethodPost, "/v2/checkout/orders/"+o.ID+"/capture", "pa_2", "{}", &e); status != 422 || e.Details[0].Issue != "ORDER_ALREADY_CAPTURED" {
		t.Fatalf("second capture: %d %+v", status, e)
	}
	e = errorJSON{}
	if status := call(t, f, bearer, http.MethodGet, "/v2/checkout/orders/NOPE", "", "", &e); status != 404 || e.Name != "RESOURCE_NOT_FOUND" {
		t.Fatalf("unknown order: %d %+v", status, e)
	}
	if caps := f.Captures(); len(caps) != 1 || caps[0].Amount != 1234 {
		t.Fatalf("captures: %+v", caps)
	}
}

func TestApproveAndCancelPagesRedirect(t *testing.T) {
	f := start(t)
	bearer := token(t, f)
	var o orderJSON
	call(t, f, bearer, http.MethodPost, "/v2/checkout/orders", "co_1", orderBody, &o)
	var approve string
	for _, l := range o.Links {
		if l.Rel == "payer-action" {
			approve = l.Href
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for link, want := range map[string]string{
		f.CancelLink(o.ID): "https://clnd.example/c?token=" + o.ID,
		approve:            "https://clnd.example/r?PayerID=",
	} {
		resp, err := noFollow.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, want) {
			t.Fatalf("GET %s: %d to %s, want %s…", link, resp.StatusCode, loc, want)
		}
	}
	if got := f.Orders()[0].Status; got != "APPROVED" {
		t.Fatalf("after the approve page the order is %s", got)
	}
}

func TestLostResponseIsProcessed(t *testing.T) {
	f := start(t)
	bearer := token(t, f)
	f.LoseResponses(1)
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/v2/checkout/orders", strings.NewReader(orderBody))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("PayPal-Request-Id", "co_1")
	start := time.Now()
	_, err := (&http.Client{Timeout: 200 * time.Millisecond}).Do(req)
	var uerr *url.Error
	if !errors.As(err, &uerr) || !uerr.Timeout() {
		t.Fatalf("want a client timeout, got %v after %s", err, time.Since(start))
	}
	if len(f.Orders()) != 1 {
		t.Fatal("the lost call should still have created the order")
	}
}

func TestVerifySignature(t *testing.T) {
	f := start(t)
	bearer := token(t, f)
	h, body := f.Webhook("CHECKOUT.ORDER.APPROVED", map[string]any{"id": "5O190127TN364715T"})
	verify := func(webhookID string, event []byte) string {
		t.Helper()
		fields, _ := json.Marshal(map[string]string{
			"auth_algo": h.Get("PAYPAL-AUTH-ALGO"), "cert_url": h.Get("PAYPAL-CERT-URL"),
			"transmission_id": h.Get("PAYPAL-TRANSMISSION-ID"), "transmission_sig": h.Get("PAYPAL-TRANSMISSION-SIG"),
			"transmission_time": h.Get("PAYPAL-TRANSMISSION-TIME"), "webhook_id": webhookID,
		})
		req := append(fields[:len(fields)-1:len(fields)-1], []byte(`,"webhook_event":`)...)
		req = append(append(req, event...), '}')
		var out struct {
			VerificationStatus string `json:"verification_status"`
		}
		call(t, f, bearer, http.MethodPost, "/v1/notifications/verify-webhook-signature", "", string(req), &out)
		return out.VerificationStatus
	}
	var indented bytes.Buffer
	_ = json.Indent(&indented, body, "", "  ")
	for name, c := range map[string]struct {
		webhookID string
		event     []byte
		want      string
	}{
		"as sent":          {f.WebhookID, body, "SUCCESS"},
		"other webhook ID": {"8PT597110X687430LKGECATA", body, "FAILURE"},
		"re-encoded":       {f.WebhookID, indented.Bytes(), "FAILURE"},
	} {
		if got := verify(c.webhookID, c.event); got != c.want {
			t.Errorf("%s: %s, want %s", name, got, c.want)
		}
	}
}

func TestSendDeliversToTheReceiver(t *testing.T) {
	f := start(t)
	var got http.Header
	receiver := http.NewServeMux()
	receiver.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptestServer(t, receiver)
	status, err := f.Send(srv+"/hook", "CHECKOUT.ORDER.APPROVED", map[string]any{"id": "X"})
	if err != nil || status != http.StatusNoContent || got.Get("PAYPAL-TRANSMISSION-ID") == "" {
		t.Fatalf("send: %d, %v, headers %v", status, err, got)
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSendEventsTo(t *testing.T) {
	f := start(t)
	bearer := token(t, f)
	var mu sync.Mutex
	var received []string
	receiver := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID        string `json:"id"`
			EventType string `json:"event_type"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		received = append(received, ev.EventType+" "+ev.ID)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	f.SendEventsTo(receiver)

	var o orderJSON
	call(t, f, bearer, http.MethodPost, "/v2/checkout/orders", "co_1", orderBody, &o)
	if err := f.Approve(o.ID); err != nil {
		t.Fatal(err)
	}
	call(t, f, bearer, http.MethodPost, "/v2/checkout/orders/"+o.ID+"/capture", "pa_1", "{}", nil)
	call(t, f, bearer, http.MethodPost, "/v2/checkout/orders/"+o.ID+"/capture", "pa_1", "{}", nil) // a replay raises nothing
	capID := f.Captures()[0].ID
	call(t, f, bearer, http.MethodPost, "/v2/payments/captures/"+capID+"/refund", "re_1", `{"amount":{"currency_code":"USD","value":"1.00"}}`, nil)

	ds := f.Deliveries()
	want := []string{"CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.REFUNDED"}
	if len(ds) != len(want) {
		t.Fatalf("deliveries %+v", ds)
	}
	for i, d := range ds {
		if d.Type != want[i] || d.Status != http.StatusNoContent || received[i] != d.Type+" "+d.EventID {
			t.Fatalf("delivery %d: %s %d (%s), want %s", i, d.Type, d.Status, received[i], want[i])
		}
	}
	// A recorded delivery can be replayed as is: the same event again.
	if status, err := paypalfake.Deliver(receiver, ds[0].Header, ds[0].Body); err != nil || status != http.StatusNoContent {
		t.Fatalf("replay: %d %v", status, err)
	}
	if len(received) != 4 || received[3] != received[0] {
		t.Fatalf("received %v", received)
	}
}
