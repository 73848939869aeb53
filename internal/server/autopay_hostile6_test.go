package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/payments"
	"clnd/internal/pgtest"
	"clnd/internal/server"
)

// freezingGateway is the sandbox gateway whose next charge freezes the
// database first: the database stops answering while the request that made
// the charge due is still being answered.
type freezingGateway struct {
	payments.Sandbox
	mu     sync.Mutex
	freeze func()
}

func (g *freezingGateway) Charge(ctx context.Context, r payments.ChargeRequest) (payments.Charge, error) {
	g.mu.Lock()
	f := g.freeze
	g.freeze = nil
	g.mu.Unlock()
	if f != nil {
		f()
	}
	return g.Sandbox.Charge(ctx, r)
}

// An operator's debit that triggers an autopayment, with the database
// freezing once the debit is committed (at the autopayment's charge): the
// answer says what happened. A 503 UNAVAILABLE ("retry later") for a debit
// that was written tells the operator to post it again, and a retry
// without a key debits twice (API.md: a failed mutation changes nothing).
func TestHostileDebitCommittedBeforeAFreezeIsNotAnsweredUnavailable(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	g := &freezingGateway{}
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) {
			c.RequestTimeout = time.Second
			c.Gateway = g
			c.PaymentGrace = time.Second // the reconciler's turn comes soon
		}))
	seller := e.Register("h6-autopay") // 250.00, AUTO_REPAY with tok_visa
	g.mu.Lock()
	g.freeze = pg.Freeze
	g.mu.Unlock()

	done := make(chan *apitest.Response, 1)
	began := time.Now()
	go func() {
		done <- e.Do(apitest.Request{Token: e.OperatorToken, Query: `mutation($rid: ID!) {
			adjustBalance(input: {resellerID: $rid, amount: "-300.00", reason: "h6 debit"}) { transaction { id } } }`,
			Variables: map[string]any{"rid": seller.ID}})
	}()
	var r *apitest.Response
	select {
	case r = <-done:
	case <-time.After(8 * time.Second):
		pg.Thaw()
		t.Fatal("the debit was not answered within 8 s of a frozen database (its bound: 1 s + 1 s)")
	}
	took := time.Since(began)
	time.Sleep(500 * time.Millisecond)
	pg.Thaw()
	var out struct {
		Node struct {
			Transactions struct {
				Edges []struct {
					Node struct{ Kind, Amount, Description string }
				}
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rr := e.Do(apitest.Request{Token: e.OperatorToken, Query: `query($id: ID!) { node(id: $id) { ... on Reseller {
			transactions(first: 100) { edges { node { kind amount description } } } } } }`, Variables: map[string]any{"id": seller.ID}})
		if rr.Status == http.StatusOK && len(rr.Errors) == 0 {
			if err := json.Unmarshal(rr.Data, &out); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer after the thaw: %s", rr.Raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	written := false
	for _, ed := range out.Node.Transactions.Edges {
		if ed.Node.Kind == "ADJUSTMENT" && ed.Node.Description == "h6 debit" {
			written = true
		}
	}
	t.Logf("the debit answered HTTP %d %s after %v; written: %v", r.Status, r.Code(), took.Round(time.Millisecond), written)
	if written && r.Code() != "" {
		t.Fatalf("the debit was written, but answered HTTP %d %s (%s): a client told to retry later posts it twice", r.Status, r.Code(), r.Raw)
	}
	if !written && r.Code() == "" {
		t.Fatalf("the debit answered success but is not in the ledger")
	}
	// The autopayment the debit made due, cut short by the deadline, is
	// settled by the reconciler: charged once, recorded once, and the
	// balance is the sum of the transactions.
	var balance struct {
		Node struct {
			Balance      string
			Transactions struct {
				Edges []struct{ Node struct{ Kind, Amount string } }
			}
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		time.Sleep(300 * time.Millisecond)
		// The reconciler's turn (every minute), now: past its grace (1 s).
		e.Query(e.OperatorToken, `mutation { settlePaymentAttempts { settled pending } }`, nil, nil)
		e.Query(e.OperatorToken, `query($id: ID!) { node(id: $id) { ... on Reseller { balance
			transactions(first: 100) { edges { node { kind amount } } } } } }`, map[string]any{"id": seller.ID}, &balance)
		autopayments := 0
		var sum, paid int64
		for _, ed := range balance.Node.Transactions.Edges {
			switch ed.Node.Kind {
			case "AUTOPAYMENT":
				autopayments++
				paid += cents(t, ed.Node.Amount)
			case "DEPOSIT", "TOP_UP":
				paid += cents(t, ed.Node.Amount)
			}
			sum += cents(t, ed.Node.Amount)
		}
		if autopayments > 1 {
			t.Fatalf("%d autopayments for one debit", autopayments)
		}
		if autopayments == 1 {
			if sum != cents(t, balance.Node.Balance) {
				t.Fatalf("balance %s, transactions sum to %d cents", balance.Node.Balance, sum)
			}
			charged, err := g.Sandbox.Charged(context.Background())
			if err != nil || int64(charged) != paid {
				t.Fatalf("the gateway took %d cents, the ledger credits %d from it (%v)", charged, paid, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no autopayment 30 s after the thaw: %+v", balance.Node.Transactions.Edges)
		}
	}
}
