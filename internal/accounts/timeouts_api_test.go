package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/server"
)

// timeoutGateway is the sandbox gateway behind a bad network: while armed,
// a third of the charges time out before the gateway sees them, and a
// third time out after it charged (the answer is lost), as a real
// provider's would.
type timeoutGateway struct {
	payments.Sandbox
	armed atomic.Bool
	calls atomic.Int64
}

var errTimeout = errors.New("Post \"https://api.stripe.com/v1/payment_intents\": context deadline exceeded")

func (g *timeoutGateway) Charge(ctx context.Context, r payments.ChargeRequest) (payments.Charge, error) {
	if !g.armed.Load() {
		return g.Sandbox.Charge(ctx, r)
	}
	switch g.calls.Add(1) % 3 {
	case 0:
		return payments.Charge{}, errTimeout
	case 1:
		if _, err := g.Sandbox.Charge(ctx, r); err != nil {
			return payments.Charge{}, err
		}
		return payments.Charge{}, errTimeout
	}
	return g.Sandbox.Charge(ctx, r)
}

// 100 top-ups at once through a gateway that times out two times in three:
// the lost ones answer UNAVAILABLE and stay pending, a retry with the same
// key or the reconciler settles each exactly once, and in the end every
// attempt is settled, the gateway took exactly what the ledger credited,
// and the balance is the sum of the transactions.
func TestConcurrentTopUpsThroughTimeouts(t *testing.T) {
	g := &timeoutGateway{}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		g.armed.Store(false)
		g.Sandbox = payments.Sandbox{}
		a := e.Register("alice") // 250.00
		g.armed.Store(true)
		request := func(i int) apitest.Request {
			return apitest.Request{Token: a.Token, Query: topUp,
				Variables: map[string]any{"amount": "1.00", "key": fmt.Sprintf("k%d", i)}}
		}
		counts := e.Race(100, request)
		if counts[""]+counts["UNAVAILABLE"] != 100 || counts["UNAVAILABLE"] == 0 {
			t.Fatalf("answers by code: %v", counts)
		}
		g.armed.Store(false)
		// Half the callers retry with their key; the reconciler does the rest.
		for i := 0; i < 100; i += 2 {
			if code := e.Do(request(i)).Code(); code != "" {
				t.Fatalf("retrying k%d: %s", i, code)
			}
		}
		var settled struct {
			SettlePaymentAttempts struct{ Settled, Pending int }
		}
		e.Query(e.OperatorToken, `mutation { settlePaymentAttempts { settled pending } }`, nil, &settled)
		if settled.SettlePaymentAttempts.Pending != 0 {
			t.Fatalf("still pending: %+v", settled)
		}
		balance, kinds, attempts := ledgerOf(t, e, a.ID)
		if balance != "350.00" || len(kinds) != 101 || len(attempts) != 101 {
			t.Fatalf("balance %s, %d transactions, %d attempts; want 350.00, 101, 101", balance, len(kinds), len(attempts))
		}
		for _, at := range attempts {
			if at.Status != "SUCCEEDED" {
				t.Fatalf("attempt %+v", at)
			}
		}
		took, err := g.Sandbox.Charged(e.Ctx())
		if err != nil {
			t.Fatal(err)
		}
		if took != money.MustParse("350.00") {
			t.Fatalf("the gateway took %s for 350.00 credited", took)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.Gateway = g }))
}

// A registration whose deposit the gateway did not answer for is not an
// account yet: it answers UNAVAILABLE, the login waits, and once the
// deposit is settled the same request (same key) signs in.
func TestRegistrationWaitsForItsDeposit(t *testing.T) {
	g := &timeoutGateway{}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		g.Sandbox = payments.Sandbox{}
		g.calls.Store(2) // the next call times out after charging
		g.armed.Store(true)
		in := apitest.RegistrationInput("alice")
		in["idempotencyKey"] = "reg-1"
		register := apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": in}}
		if code := e.Do(register).Code(); code != "UNAVAILABLE" {
			t.Fatalf("registering through a timeout: %q", code)
		}
		g.armed.Store(false)
		login := `mutation { login(input: {login: "alice", password: "correct horse battery"}) { token } }`
		e.Expect("UNAVAILABLE", "", "", login, nil)
		var out struct {
			RegisterReseller struct {
				Token    string
				Reseller struct{ ID, Balance string }
			}
		}
		e.Query("", apitest.RegisterMutation, map[string]any{"input": in}, &out)
		if out.RegisterReseller.Token == "" || out.RegisterReseller.Reseller.Balance != "250.00" {
			t.Fatalf("the retried registration: %+v", out.RegisterReseller)
		}
		e.Query("", login, nil, nil)
		if took, _ := g.Sandbox.Charged(e.Ctx()); took != money.MustParse("250.00") {
			t.Fatalf("the gateway took %s for one 250.00 deposit", took)
		}
		ledgerOf(t, e, out.RegisterReseller.Reseller.ID)
	}, apitest.WithConfig(func(c *server.Config) { c.Gateway = g }))
}

// A top-up on a card that needs 3-D Secure waits for the payer; a retry
// with the same key answers the same challenge again, client secret
// included (clnd does not store it: the provider answers it again).
func TestThreeDSecureRetryGetsTheClientSecretAgain(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		var added struct {
			AddPaymentMethod struct{ PaymentMethod method }
		}
		e.Query(a.Token, addMethod, map[string]any{"tok": "tok_threeDSecure"}, &added)
		vars := map[string]any{"amount": "10.00", "pm": added.AddPaymentMethod.PaymentMethod.ID, "key": "3ds-1"}
		first := e.Expect("PAYMENT_FAILED", "", a.Token, topUp, vars)
		again := e.Expect("PAYMENT_FAILED", "", a.Token, topUp, vars)
		for _, resp := range []*apitest.Response{first, again} {
			ext := resp.Errors[0].Extensions
			if ext["requiresAction"] != true || ext["clientSecret"] == nil || ext["clientSecret"] == "" {
				t.Fatalf("extensions %v", ext)
			}
		}
		if first.Errors[0].Extensions["clientSecret"] != again.Errors[0].Extensions["clientSecret"] {
			t.Fatalf("secrets differ: %v and %v", first.Errors[0].Extensions["clientSecret"], again.Errors[0].Extensions["clientSecret"])
		}
		if balance, _, _ := ledgerOf(t, e, a.ID); balance != "250.00" {
			t.Fatalf("balance %s", balance)
		}
	})
}
