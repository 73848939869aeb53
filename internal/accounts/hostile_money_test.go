package accounts_test

// Each test here reproduced a defect that hostile testing found in the
// payment flows of issue 9, and now guards its fix: the comment above each
// says what used to go wrong.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/ent/paymentattempt"
	"clnd/internal/accounts"
	"clnd/internal/apitest"
	"clnd/internal/checkout"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/secrets"
	"clnd/internal/server"
	"clnd/internal/viewer"
)

// gatedRefunds is the sandbox gateway whose refunds wait at a gate: the
// provider call of a refund is slow, as a real one can be.
type gatedRefunds struct {
	payments.Sandbox
	entered chan struct{}
	release chan struct{}
}

func (g *gatedRefunds) Refund(ctx context.Context, r payments.RefundRequest) (payments.Refund, error) {
	if g.entered != nil {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Sandbox.Refund(ctx, r)
}

// H1. A refund is checked against the balance when it is opened, but a
// debit that lands while the provider call is in flight is not checked
// against the pending refund: the refund then takes the balance negative
// ("at most the balance, else CONFLICT" is broken), the reseller turns
// PAST_DUE, and no autopayment is tried although AUTO_REPAY is on and the
// default card works.
func TestRefundRacingADebitIsCoveredByAutopayment(t *testing.T) {
	g := &gatedRefunds{}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		g.Sandbox = payments.Sandbox{}
		g.entered, g.release = nil, nil
		a := e.Register("alice") // 250.00, AUTO_REPAY, tok_visa
		deposit := firstPayment(t, e, a.Token)
		g.entered, g.release = make(chan struct{}), make(chan struct{})
		done := make(chan *apitest.Response)
		go func() {
			done <- e.Do(apitest.Request{Token: e.OperatorToken, Query: refund,
				Variables: map[string]any{"txn": deposit, "amount": "200.00", "reason": "customer asked", "key": "r1"}})
		}()
		<-g.entered // the refund is committed PENDING and at the provider
		debit(t, e, a.ID, "-100.00")
		g.entered = nil
		close(g.release)
		res := <-done
		balance, _, attempts := ledgerOf(t, e, a.ID)
		s := state(t, e, a.Token)
		t.Logf("refund answered %q; balance %s, status %s, attempts %+v", res.Code(), balance, s.Viewer.Reseller.Status, attempts)
		if money.MustParse(balance) < 0 {
			t.Fatalf("a refund of 200.00 with 250.00 on the balance and a 100.00 debit during its provider call left the balance at %s (%s): "+
				"the refund exceeded the balance", balance, s.Viewer.Reseller.Status)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.Gateway = g }))
}

// unreachable is the sandbox gateway behind a network that never answers.
type unreachable struct {
	payments.Sandbox
	down atomic.Bool
}

func (g *unreachable) Charge(ctx context.Context, r payments.ChargeRequest) (payments.Charge, error) {
	if g.down.Load() {
		return payments.Charge{}, errTimeout
	}
	return g.Sandbox.Charge(ctx, r)
}

// H2. GiveUpAfter (23 h: Stripe forgets idempotency keys after 24 h) is
// measured from the attempt's next_try_at, which every retry and every
// reconciler claim moves forward, so it never fires: an attempt whose
// provider does not answer is retried with the same key forever, also
// after the provider has forgotten the key, where a retry can charge
// again. Here the attempt is two days old and was retried 40 times.
func TestUnansweredAttemptNeedsReviewAfterADay(t *testing.T) {
	g := &unreachable{}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		g.Sandbox = payments.Sandbox{}
		g.down.Store(false)
		a := e.Register("alice")
		g.down.Store(true)
		e.Expect("UNAVAILABLE", "", a.Token, topUp, map[string]any{"amount": "10.00", "key": "k1"})
		sys := viewer.SystemContext(e.Ctx())
		pa, err := e.DB.Client.PaymentAttempt.Query().Where(paymentattempt.PurposeEQ(paymentattempt.PurposeTOP_UP)).Only(sys)
		if err != nil {
			t.Fatal(err)
		}
		// Two days of the reconciler asking: each time the retry is due
		// (next_try_at in the past) and the provider does not answer.
		q := `UPDATE payment_attempts SET opened_at = ? WHERE id = ?`
		if e.DB.Postgres() {
			q = `UPDATE payment_attempts SET opened_at = $1 WHERE id = $2`
		}
		if _, err := e.DB.SQL.ExecContext(sys, q, time.Now().UTC().Add(-48*time.Hour), pa.ID); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			if err := e.DB.Client.PaymentAttempt.UpdateOneID(pa.ID).SetNextTryAt(time.Now().UTC().Add(-time.Second)).Exec(sys); err != nil {
				t.Fatal(err)
			}
			e.Query(e.OperatorToken, `mutation { settlePaymentAttempts { settled pending } }`, nil, nil)
		}
		pa, err = e.DB.Client.PaymentAttempt.Get(sys, pa.ID)
		if err != nil {
			t.Fatal(err)
		}
		if pa.Status == paymentattempt.StatusPENDING {
			t.Fatalf("an attempt created %s ago and tried %d times is still %s (next try %s): GiveUpAfter never fires",
				time.Since(pa.CreatedAt).Round(time.Hour), pa.Tries, pa.Status, time.Until(*pa.NextTryAt).Round(time.Second))
		}
	}, apitest.WithConfig(func(c *server.Config) { c.Gateway = g }))
}

// H3. An autopayment on a card that needs 3-D Secure waits for the payer
// (REQUIRES_ACTION) and is no longer PENDING, so (a) the reseller stays
// ACTIVE with a negative balance and keeps adding licenses, and (b) every
// further debit opens another autopayment for the whole deficit: the
// outstanding charges add up to far more than is owed, and each is
// credited once the payer completes it (Stripe's payment_intent.succeeded).
func TestThreeDSecureAutopaymentIsDeclined(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // 250.00
		e.Query(a.Token, addMethod, map[string]any{"tok": "tok_threeDSecure", "def": true}, nil)
		for i := 0; i < 3; i++ {
			debit(t, e, a.ID, "-300.00")
		}
		s := state(t, e, a.Token)
		var waiting money.Cents
		for _, edge := range s.Viewer.Reseller.PaymentAttempts.Edges {
			if n := edge.Node; n.Purpose == "AUTOPAYMENT" && n.Status == "REQUIRES_ACTION" {
				waiting += money.MustParse(n.Amount)
			}
		}
		owed := -money.MustParse(s.Viewer.Reseller.Balance)
		lic := e.Do(apitest.Request{Token: a.Token, Query: `mutation { addIPLicense(input: {ip: "8.8.4.4", type: KERNELCARE}) { license { id } } }`})
		t.Logf("balance %s, status %s, autopayments waiting for 3-D Secure %s, addIPLicense answered %q",
			s.Viewer.Reseller.Balance, s.Viewer.Reseller.Status, waiting, lic.Code())
		var problems []string
		if s.Viewer.Reseller.Status != "PAST_DUE" {
			problems = append(problems, fmt.Sprintf("status %s at balance %s with no autopayment settled", s.Viewer.Reseller.Status, s.Viewer.Reseller.Balance))
		}
		if lic.Code() != "PAYMENT_REQUIRED" {
			problems = append(problems, fmt.Sprintf("addIPLicense at a negative balance answered %q, want PAYMENT_REQUIRED", lic.Code()))
		}
		if waiting > owed {
			problems = append(problems, fmt.Sprintf("autopayments of %s wait for the payer for %s owed", waiting, owed))
		}
		if len(problems) > 0 {
			t.Fatal(strings.Join(problems, "; "))
		}
	})
}

// gatedCapture is the sandbox checkout provider whose captures wait at a gate.
type gatedCapture struct {
	*payments.SandboxCheckout
	entered chan struct{}
	release chan struct{}
}

func (g *gatedCapture) Capture(ctx context.Context, orderID, key string) (payments.Charge, error) {
	if g.entered != nil {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.SandboxCheckout.Capture(ctx, orderID, key)
}

// H4. The payer returns (the capture goes to the provider), then the cancel
// page is loaded (a second tab, the back button, PayPal's cancel link): it
// answers "The checkout was canceled; nothing was charged." (or redirects
// to cancelURL), and a moment later the capture completes and the
// checkout is COMPLETED and credited. The ledger is right, the page lied.
func TestCancelPageWaitsForACaptureInFlight(t *testing.T) {
	g := &gatedCapture{SandboxCheckout: &payments.SandboxCheckout{Sandbox: &payments.Sandbox{}, Secret: []byte("s")}}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		g.SandboxCheckout.Sandbox = &payments.Sandbox{}
		g.entered, g.release = nil, nil
		a := e.Register("alice")
		var s struct {
			StartCheckout struct{ Checkout struct{ ID string } }
		}
		e.Query(a.Token, `mutation { startCheckout(input: {amount: "40.00"}) { checkout { id } } }`, nil, &s)
		id := s.StartCheckout.Checkout.ID
		if err := g.Approve(e.Ctx(), id); err != nil { // the payer clicked Pay at the provider
			t.Fatal(err)
		}
		g.entered, g.release = make(chan struct{}), make(chan struct{})
		returned := make(chan int)
		go func() {
			resp, err := e.Server.Client().Get(e.Server.URL + checkout.ReturnPage(id))
			if err != nil {
				t.Error(err)
				returned <- 0
				return
			}
			resp.Body.Close()
			returned <- resp.StatusCode
		}()
		<-g.entered
		g.entered = nil
		resp, err := e.Server.Client().Get(e.Server.URL + checkout.CancelPage(id))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		close(g.release)
		<-returned
		var out struct{ Node struct{ Status string } }
		e.Query(a.Token, `query($id: ID!) { node(id: $id) { ... on Checkout { status } } }`, map[string]any{"id": id}, &out)
		balance, _, _ := ledgerOf(t, e, a.ID)
		said := "canceled"
		if !strings.Contains(string(page), "nothing was charged") {
			said = "something else"
		}
		t.Logf("cancel page said %s: %q; checkout now %s, balance %s", said, bytes.TrimSpace(page[bytes.Index(page, []byte("<h1>")):]), out.Node.Status, balance)
		if said == "canceled" && out.Node.Status == "COMPLETED" {
			t.Fatalf("the cancel page told the payer nothing was charged, then the checkout was COMPLETED and %s credited (balance %s)", "40.00", balance)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.Checkout = g }))
}

// H5. GatewayEvent implements Node, but node(id:) answers NOT_FOUND for an
// existing event even to an operator (API.md §1: node resolves every type
// that implements Node).
func TestGatewayEventIsAnOperatorNode(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		secret, err := secrets.Get(e.Ctx(), e.DB.Client, secrets.SandboxWebhook)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(checkout.Event{ID: "evt_h5", Type: "checkout.completed", Checkout: "chk_01JD000000000000000000000"})
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/webhooks/payments/sandbox", bytes.NewReader(body))
		req.Header.Set(checkout.SignatureHeader, checkout.Sign(secret, body, time.Now()))
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var list struct {
			GatewayEvents struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		e.Query(e.OperatorToken, `{ gatewayEvents(first: 1) { edges { node { id } } } }`, nil, &list)
		if len(list.GatewayEvents.Edges) != 1 {
			t.Fatalf("events %+v", list)
		}
		id := list.GatewayEvents.Edges[0].Node.ID
		r := e.Do(apitest.Request{Token: e.OperatorToken, Query: `query($id: ID!) { node(id: $id) { id ... on GatewayEvent { type } } }`,
			Variables: map[string]any{"id": id}})
		if r.Code() != "" {
			t.Fatalf("node(id: %q) as the operator answered %s", id, r.Code())
		}
	})
}

// H6. settlePaymentAttempts looks at 200 attempts per call and answers
// pending: 0 while more stay PENDING: the operator is told all is settled.
func TestSettleCountsEveryPendingAttempt(t *testing.T) {
	g := &unreachable{}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		g.Sandbox = payments.Sandbox{}
		g.down.Store(false)
		a := e.Register("alice")
		g.down.Store(true)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := 0; i < 205; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				e.Do(apitest.Request{Token: a.Token, Query: topUp, Variables: map[string]any{"amount": "1.00", "key": fmt.Sprintf("k%d", i)}})
			}(i)
		}
		wg.Wait()
		g.down.Store(false)
		var out struct {
			SettlePaymentAttempts struct{ Settled, Pending int }
		}
		e.Query(e.OperatorToken, `mutation { settlePaymentAttempts { settled pending } }`, nil, &out)
		left, err := e.DB.Client.PaymentAttempt.Query().Where(paymentattempt.StatusEQ(paymentattempt.StatusPENDING)).Count(viewer.SystemContext(e.Ctx()))
		if err != nil {
			t.Fatal(err)
		}
		if left != out.SettlePaymentAttempts.Pending {
			t.Fatalf("settlePaymentAttempts answered %+v, but %d attempts are still PENDING", out.SettlePaymentAttempts, left)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.Gateway = g }))
}

// H7. A registerReseller replay (same idempotency key and fields) checks the
// password against the account and answers a fresh session token. Wrong
// passwords answer IDEMPOTENCY_CONFLICT and are never counted as failed
// logins: the replay is an unthrottled password oracle (one argon2id
// verification per request, ~40 ms of CPU each), and it hands out
// sessions while login itself answers RATE_LIMITED.
func TestRegistrationReplayIsThrottled(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		in := apitest.RegistrationInput("alice")
		in["idempotencyKey"] = "reg-1"
		e.Query("", apitest.RegisterMutation, map[string]any{"input": in}, nil)
		login := `mutation($p: String!) { login(input: {login: "alice", password: $p}) { token } }`
		var loginCodes, replayCodes []string
		for i := 0; i < 12; i++ {
			loginCodes = append(loginCodes, e.Do(apitest.Request{Query: login, Variables: map[string]any{"p": fmt.Sprintf("wrong password %d", i)}}).Code())
		}
		for i := 0; i < 12; i++ {
			bad := map[string]any{}
			for k, v := range in {
				bad[k] = v
			}
			bad["password"] = fmt.Sprintf("wrong password %d", i)
			replayCodes = append(replayCodes, e.Do(apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": bad}}).Code())
		}
		good := e.Do(apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": in}})
		t.Logf("login: %v; wrong-password replays: %v; right-password replay while login is rate limited: %q", loginCodes, replayCodes, good.Code())
		if loginCodes[len(loginCodes)-1] == "RATE_LIMITED" && good.Code() == "" {
			t.Fatalf("login is RATE_LIMITED for alice, yet a registration replay with the password answers a session; the 12 wrong guesses before it answered %v", replayCodes)
		}
	})
}

// H8. The return page of an EXPIRED checkout sends the payer to the
// dashboard's returnURL (the "thank you, paid" page); CANCELED and FAILED
// go to cancelURL. Nothing was charged, so cancelURL is the right page.
func TestExpiredCheckoutReturnsToTheCancelPage(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		var s struct {
			StartCheckout struct{ Checkout struct{ ID string } }
		}
		e.Query(a.Token, `mutation { startCheckout(input: {amount: "20.00", returnURL: "https://dash.example/paid", cancelURL: "https://dash.example/not-paid"}) { checkout { id } } }`, nil, &s)
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
			map[string]any{"to": apitest.Start.Add(25 * time.Hour)}, nil)
		if _, err := accounts.NewService(nil).Sweep(e.Ctx(), e.DB.Client); err != nil {
			t.Fatal(err)
		}
		client := *e.Server.Client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := client.Get(e.Server.URL + checkout.ReturnPage(s.StartCheckout.Checkout.ID))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var out struct{ Node struct{ Status string } }
		e.Query(a.Token, `query($id: ID!) { node(id: $id) { ... on Checkout { status } } }`, map[string]any{"id": s.StartCheckout.Checkout.ID}, &out)
		if loc := resp.Header.Get("Location"); out.Node.Status == "EXPIRED" && loc != "https://dash.example/not-paid" {
			t.Fatalf("an EXPIRED checkout's return page redirects to %q", loc)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ReturnOrigins = []string{"https://dash.example"} }))
}
