package checkout_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/payments/paypal"
	"clnd/internal/payments/paypalfake"
	"clnd/internal/server"
)

// These tests run clnd with its PayPal checkout provider pointed at
// paypalfake, a local PayPal speaking Orders v2, refunds and
// verify-webhook-signature, and play the payer with a browser-like client:
// clnd's redirectURL is PayPal's approve page, which sends the payer back
// to clnd's return page, which captures and sends the payer on to the
// dashboard.

const (
	dashboard     = "https://dash.example"
	startWithURLs = `mutation($a: Money!, $ret: String, $cancel: String) {
		startCheckout(input: {amount: $a, returnURL: $ret, cancelURL: $cancel}) { checkout { id status amount redirectURL } } }`
)

func TestPayPalApproveCaptureReturn(t *testing.T) {
	eachPayPal(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		a := e.Register("alice") // 250.00
		c := startPayPal(t, e, a.Token, "75.00")
		if c.Status != "PENDING" || !strings.HasPrefix(c.RedirectURL, fake.URL+"/") {
			t.Fatalf("checkout %+v", c)
		}
		order := orderOf(t, c)
		if os := fake.Orders(); len(os) != 1 || os[0].ID != order || os[0].ReferenceID != c.ID || os[0].Amount != 7500 {
			t.Fatalf("orders at PayPal %+v", os)
		}
		if b, _ := balance(t, e, a.Token); b != "250.00" {
			t.Fatalf("an order moved money: %s", b)
		}

		hops := browse(t, c.RedirectURL)
		if last := hops[len(hops)-1]; last != dashboard+"/paid" {
			t.Fatalf("the payer went %v", hops)
		}
		if !strings.HasPrefix(hops[1], e.Server.URL+"/checkout/"+c.ID+"/return?") {
			t.Fatalf("PayPal sent the payer to %s, not clnd's return page", hops[1])
		}
		if b, n := balance(t, e, a.Token); b != "325.00" || n != 2 {
			t.Fatalf("after the return: balance %s with %d transactions", b, n)
		}
		if st := status(t, e, a.Token, c.ID); st != "COMPLETED" {
			t.Fatalf("status %s", st)
		}
		captures := fake.Captures()
		at := attemptOfCheckout(t, e, a.Token)
		if len(captures) != 1 || captures[0].OrderID != order || captures[0].Amount != 7500 ||
			captures[0].RequestID != at.ID || at.GatewayRef != captures[0].ID || at.Status != "SUCCEEDED" {
			t.Fatalf("captures at PayPal %+v, the attempt %+v", captures, at)
		}

		// Reloading the return page (the back button) changes nothing.
		if hops := browse(t, hops[1]); hops[len(hops)-1] != dashboard+"/paid" {
			t.Fatalf("the reload went %v", hops)
		}
		if b, _ := balance(t, e, a.Token); b != "325.00" || len(fake.Captures()) != 1 {
			t.Fatalf("a reload: balance %s, %d captures", b, len(fake.Captures()))
		}
	})
}

// With PayPal's webhooks on, CHECKOUT.ORDER.APPROVED reaches clnd before
// the payer does and captures, PAYMENT.CAPTURE.COMPLETED arrives inside
// that capture, before its answer, and the payer's return page (loaded
// twice, at once) captures too: one capture at PayPal, one credit.
func TestPayPalCaptureRacesWebhooks(t *testing.T) {
	eachPayPal(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		hook := e.Server.URL + "/webhooks/payments/paypal"
		fake.SendEventsTo(hook)
		a := e.Register("alice")
		c := startPayPal(t, e, a.Token, "40.00")

		hops := browse(t, c.RedirectURL)
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if again := browse(t, hops[1]); again[len(again)-1] != dashboard+"/paid" {
					t.Errorf("a return page went %v", again)
				}
			}()
		}
		wg.Wait()
		if b, n := balance(t, e, a.Token); b != "290.00" || n != 2 {
			t.Fatalf("after the race: balance %s with %d transactions", b, n)
		}
		if caps := fake.Captures(); len(caps) != 1 {
			t.Fatalf("captures at PayPal %+v", caps)
		}
		deliveries := fake.Deliveries()
		types := map[string]int{}
		for _, d := range deliveries {
			if d.Status != http.StatusOK {
				t.Fatalf("%s answered %d (%v)", d.Type, d.Status, d.Err)
			}
			types[d.Type]++
		}
		if types[paypal.EventOrderApproved] != 1 || types[paypal.EventCaptureComplete] != 1 {
			t.Fatalf("deliveries %v", types)
		}

		// PayPal redelivers (or someone replays a captured delivery): 200,
		// nothing more. A forged or tampered one is refused.
		for _, d := range deliveries {
			if code, err := paypalfake.Deliver(hook, d.Header, d.Body); err != nil || code != http.StatusOK {
				t.Fatalf("replaying %s: %d %v", d.Type, code, err)
			}
		}
		d := deliveries[0]
		tampered := bytes.Replace(d.Body, []byte(`"40.00"`), []byte(`"4000.00"`), 1)
		if bytes.Equal(tampered, d.Body) {
			t.Fatalf("no amount to tamper with in %s", d.Body)
		}
		forged := d.Header.Clone()
		forged.Set("Paypal-Transmission-Sig", "Zm9yZ2Vk")
		for name, try := range map[string]struct {
			h    http.Header
			body []byte
		}{"tampered": {d.Header, tampered}, "forged": {forged, d.Body}, "unsigned": {http.Header{}, d.Body}} {
			if code, err := paypalfake.Deliver(hook, try.h, try.body); err != nil || code != http.StatusBadRequest {
				t.Fatalf("a %s webhook answered %d %v", name, code, err)
			}
		}
		if b, n := balance(t, e, a.Token); b != "290.00" || n != 2 || len(fake.Captures()) != 1 {
			t.Fatalf("after replays: balance %s with %d transactions, %d captures", b, n, len(fake.Captures()))
		}
		// Each event was recorded once for operators.
		var ev struct {
			GatewayEvents struct{ TotalCount int }
		}
		e.Query(e.OperatorToken, `{ gatewayEvents { totalCount } }`, nil, &ev)
		if ev.GatewayEvents.TotalCount != len(deliveries) {
			t.Fatalf("%d gateway events for %d deliveries", ev.GatewayEvents.TotalCount, len(deliveries))
		}
	})
}

func TestPayPalCancel(t *testing.T) {
	eachPayPal(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		fake.SendEventsTo(e.Server.URL + "/webhooks/payments/paypal")
		a := e.Register("alice")
		c := startPayPal(t, e, a.Token, "30.00")
		order := orderOf(t, c)
		hops := browse(t, fake.CancelLink(order))
		if last := hops[len(hops)-1]; last != dashboard+"/canceled" {
			t.Fatalf("the payer who canceled went %v", hops)
		}
		if st := status(t, e, a.Token, c.ID); st != "CANCELED" {
			t.Fatalf("status %s", st)
		}
		// The payer approves the stale order in another tab afterwards:
		// the canceled checkout is not captured.
		if err := fake.Approve(order); err != nil {
			t.Fatal(err)
		}
		if b, n := balance(t, e, a.Token); b != "250.00" || n != 1 || len(fake.Captures()) != 0 {
			t.Fatalf("a canceled checkout: balance %s with %d transactions, %d captures", b, n, len(fake.Captures()))
		}
		if st := status(t, e, a.Token, c.ID); st != "CANCELED" {
			t.Fatalf("status after a late approval %s", st)
		}
	})
}

func TestPayPalReturnURLsAreDashboardsOnly(t *testing.T) {
	eachPayPal(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		a := e.Register("alice")
		for _, bad := range []string{"https://evil.example/paid", "http://dash.example/paid", "//evil.example", "javascript:alert(1)"} {
			e.Expect("BAD_USER_INPUT", "returnURL", a.Token, startWithURLs,
				map[string]any{"a": "10.00", "ret": bad, "cancel": dashboard + "/canceled"})
			e.Expect("BAD_USER_INPUT", "cancelURL", a.Token, startWithURLs,
				map[string]any{"a": "10.00", "ret": dashboard + "/paid", "cancel": bad})
		}
		if os := fake.Orders(); len(os) != 0 {
			t.Fatalf("refused checkouts opened orders %+v", os)
		}
	})
}

func TestPayPalDeclinedCapture(t *testing.T) {
	eachPayPal(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		a := e.Register("alice")
		c := startPayPal(t, e, a.Token, "55.00")
		fake.DeclineNext()
		hops := browse(t, c.RedirectURL)
		if last := hops[len(hops)-1]; last != dashboard+"/canceled" {
			t.Fatalf("after a declined capture the payer went %v", hops)
		}
		if st := status(t, e, a.Token, c.ID); st != "FAILED" {
			t.Fatalf("status %s", st)
		}
		at := attemptOfCheckout(t, e, a.Token)
		if at.Status != "DECLINED" || at.DeclineCode == "" || at.Transaction != nil {
			t.Fatalf("the declined capture %+v", at)
		}
		if b, n := balance(t, e, a.Token); b != "250.00" || n != 1 {
			t.Fatalf("a declined capture moved money: balance %s with %d transactions", b, n)
		}
		for _, cp := range fake.Captures() {
			if cp.Status == "COMPLETED" {
				t.Fatalf("PayPal captured %+v", cp)
			}
		}
	})
}

// A checkout's money goes back through PayPal, against its capture.
func TestPayPalRefund(t *testing.T) {
	eachPayPal(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		fake.SendEventsTo(e.Server.URL + "/webhooks/payments/paypal")
		a := e.Register("alice")
		c := startPayPal(t, e, a.Token, "60.00")
		browse(t, c.RedirectURL)
		paid := attemptOfCheckout(t, e, a.Token)
		if paid.Transaction == nil {
			t.Fatalf("the checkout was not credited: %+v", paid)
		}
		var r refundResult
		e.Query(e.OperatorToken, refund, map[string]any{"txn": paid.Transaction.ID, "amount": "25.00", "key": "pp1"}, &r)
		if r.Refund.Transaction.Amount != "-25.00" || r.Refund.Transaction.BalanceAfter != "285.00" {
			t.Fatalf("the refund %+v", r.Refund)
		}
		e.Query(e.OperatorToken, refund, map[string]any{"txn": paid.Transaction.ID, "amount": "25.00", "key": "pp1"}, &r)
		e.Expect("CONFLICT", "", e.OperatorToken, refund, map[string]any{"txn": paid.Transaction.ID, "amount": "35.01"})
		refunds := fake.Refunds()
		if len(refunds) != 1 || refunds[0].CaptureID != paid.GatewayRef || refunds[0].Amount != 2500 || refunds[0].RequestID == "" {
			t.Fatalf("refunds at PayPal %+v (capture %s)", refunds, paid.GatewayRef)
		}
		if b, _ := balance(t, e, a.Token); b != "285.00" {
			t.Fatalf("balance %s", b)
		}
		// PayPal's PAYMENT.CAPTURE.REFUNDED about it is taken and moves nothing.
		var refunded int
		for _, d := range fake.Deliveries() {
			if d.Status != http.StatusOK {
				t.Fatalf("%s answered %d (%v)", d.Type, d.Status, d.Err)
			}
			if d.Type == paypal.EventCaptureRefunded {
				refunded++
			}
		}
		if refunded != 1 {
			t.Fatalf("%d refund webhooks in %+v", refunded, fake.Deliveries())
		}
	})
}

// PayPal did the work but its answers were lost: the capture on the
// payer's return, then a refund. Asking again with the same key
// (PayPal-Request-Id) answers the first outcome: one capture, one refund.
func TestPayPalLostAnswers(t *testing.T) {
	eachPayPal(t, 2*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		a := e.Register("alice")
		c := startPayPal(t, e, a.Token, "45.00")
		if err := fake.Approve(orderOf(t, c)); err != nil {
			t.Fatal(err)
		}
		fake.LoseResponses(1)
		// The payer is told to wait on the dashboard; nothing is credited yet.
		if hops := browse(t, e.Server.URL+"/checkout/"+c.ID+"/return"); hops[len(hops)-1] != dashboard+"/paid" {
			t.Fatalf("the return page went %v", hops)
		}
		if st := status(t, e, a.Token, c.ID); st != "PENDING" {
			t.Fatalf("status %s after a lost capture answer", st)
		}
		if b, _ := balance(t, e, a.Token); b != "250.00" || len(fake.Captures()) != 1 {
			t.Fatalf("before settling: balance %s, %d captures", b, len(fake.Captures()))
		}
		var s struct {
			SettlePaymentAttempts struct{ Settled, Pending int }
		}
		e.Query(e.OperatorToken, settle, nil, &s)
		if s.SettlePaymentAttempts.Settled != 1 || status(t, e, a.Token, c.ID) != "COMPLETED" {
			t.Fatalf("settlePaymentAttempts %+v, status %s", s.SettlePaymentAttempts, status(t, e, a.Token, c.ID))
		}
		if b, n := balance(t, e, a.Token); b != "295.00" || n != 2 || len(fake.Captures()) != 1 {
			t.Fatalf("after settling: balance %s with %d transactions, %d captures", b, n, len(fake.Captures()))
		}

		paid := attemptOfCheckout(t, e, a.Token)
		fake.LoseResponses(1)
		e.Expect("UNAVAILABLE", "", e.OperatorToken, refund, map[string]any{"txn": paid.Transaction.ID, "amount": "20.00", "key": "lost"})
		if b, _ := balance(t, e, a.Token); b != "295.00" {
			t.Fatalf("a refund with a lost answer was debited: %s", b)
		}
		var r refundResult
		e.Query(e.OperatorToken, refund, map[string]any{"txn": paid.Transaction.ID, "amount": "20.00", "key": "lost"}, &r)
		if r.Refund.Transaction.BalanceAfter != "275.00" {
			t.Fatalf("the retried refund %+v", r.Refund)
		}
		if rs := fake.Refunds(); len(rs) != 1 || rs[0].Amount != 2000 {
			t.Fatalf("refunds at PayPal %+v", rs)
		}
	})
}

// --- helpers ---

// eachPayPal runs fn on SQLite and PostgreSQL with clnd's checkouts going
// to a fresh fake PayPal, and the dashboard's origin allowed for returns.
// timeout bounds each call to PayPal (a lost answer takes that long).
func eachPayPal(t *testing.T, timeout time.Duration, fn func(*testing.T, *apitest.Env, *paypalfake.Fake)) {
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			fake := paypalfake.New()
			t.Cleanup(fake.Close)
			e := apitest.New(t, backend, apitest.WithConfig(func(c *server.Config) {
				c.Checkout = paypal.New(paypal.Config{
					ClientID: fake.ClientID, ClientSecret: fake.ClientSecret, WebhookID: fake.WebhookID,
					Env: "sandbox", APIURL: fake.URL, Timeout: timeout,
				})
				c.ReturnOrigins = []string{dashboard}
			}))
			fn(t, e, fake)
		})
	}
}

type startedCheckout struct{ ID, Status, Amount, RedirectURL string }

func startPayPal(t *testing.T, e *apitest.Env, token, amount string) startedCheckout {
	t.Helper()
	var s struct {
		StartCheckout struct{ Checkout startedCheckout }
	}
	e.Query(token, startWithURLs, map[string]any{"a": amount, "ret": dashboard + "/paid", "cancel": dashboard + "/canceled"}, &s)
	return s.StartCheckout.Checkout
}

// orderOf is the PayPal order a checkout's approve link names.
func orderOf(t *testing.T, c startedCheckout) string {
	t.Helper()
	u, err := url.Parse(c.RedirectURL)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("no order in %q", c.RedirectURL)
	}
	return u.Query().Get("token")
}

// browse plays the payer's browser: it follows redirects until one leaves
// for the dashboard (which does not exist here) and answers every URL it
// visited, the dashboard's last.
func browse(t *testing.T, start string) []string {
	t.Helper()
	hops := []string{start}
	client := &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			hops = append(hops, req.URL.String())
			if strings.HasPrefix(req.URL.String(), dashboard) || len(via) > 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Get(start)
	if err != nil {
		t.Fatalf("browsing from %s: %v", start, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("browsing %v ended with HTTP %d", hops, resp.StatusCode)
	}
	return hops
}

// attemptOfCheckout is the reseller's one checkout capture attempt.
func attemptOfCheckout(t *testing.T, e *apitest.Env, token string) attempt {
	t.Helper()
	var found []attempt
	for _, a := range attempts(t, e, token) {
		if a.Purpose == "CHECKOUT" {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("checkout attempts %+v", found)
	}
	return found[0]
}

// PayPal holds a capture for review (PENDING): no money yet, and the payer
// is told to wait. When PayPal settles it, PAYMENT.CAPTURE.COMPLETED
// credits it once.
func TestPayPalPendingCaptureCompletedByWebhook(t *testing.T) {
	eachPayPal(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *paypalfake.Fake) {
		fake.SendEventsTo(e.Server.URL + "/webhooks/payments/paypal")
		a := e.Register("alice")
		c := startPayPal(t, e, a.Token, "65.00")
		fake.PendNextCapture()
		if hops := browse(t, c.RedirectURL); hops[len(hops)-1] != dashboard+"/paid" {
			t.Fatalf("the payer went %v", hops)
		}
		if st := status(t, e, a.Token, c.ID); st != "PENDING" {
			t.Fatalf("status %s while PayPal holds the capture", st)
		}
		if b, _ := balance(t, e, a.Token); b != "250.00" {
			t.Fatalf("a pending capture was credited: %s", b)
		}
		caps := fake.Captures()
		if len(caps) != 1 {
			t.Fatalf("captures %+v", caps)
		}
		if err := fake.CompletePending(caps[0].ID); err != nil {
			t.Fatal(err)
		}
		if st := status(t, e, a.Token, c.ID); st != "COMPLETED" {
			t.Fatalf("status %s after PAYMENT.CAPTURE.COMPLETED", st)
		}
		if b, n := balance(t, e, a.Token); b != "315.00" || n != 2 {
			t.Fatalf("after the capture completed: balance %s with %d transactions", b, n)
		}
		for _, d := range fake.Deliveries() {
			if d.Status != http.StatusOK {
				t.Errorf("%s answered %d (%v)", d.Type, d.Status, d.Err)
			}
		}
		// The reconciler asking again changes nothing more.
		e.Query(e.OperatorToken, settle, nil, nil)
		if b, n := balance(t, e, a.Token); b != "315.00" || n != 2 || len(fake.Captures()) != 1 {
			t.Fatalf("after settling: balance %s with %d transactions, %d captures", b, n, len(fake.Captures()))
		}
	})
}
