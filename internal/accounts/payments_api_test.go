package accounts_test

import (
	"fmt"
	"testing"
	"time"

	"clnd/ent/reseller"
	"clnd/ent/transaction"
	"clnd/internal/accounts"
	"clnd/internal/apitest"
	"clnd/internal/ledger"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

const (
	addMethod = `mutation($tok: String!, $def: Boolean) { addPaymentMethod(input: {gatewayToken: $tok, makeDefault: $def}) {
		paymentMethod { id kind label isDefault } } }`
	topUp = `mutation($amount: Money!, $pm: ID, $key: String) { topUp(input: {amount: $amount, paymentMethodID: $pm, idempotencyKey: $key}) {
		transaction { id kind amount balanceAfter } invoice { id type total } reseller { balance status } } }`
)

type method struct {
	ID, Kind, Label string
	IsDefault       bool
}

func methods(t *testing.T, e *apitest.Env, token string) []method {
	t.Helper()
	var out struct {
		Viewer struct {
			Reseller struct{ PaymentMethods []method }
		}
	}
	e.Query(token, `{ viewer { reseller { paymentMethods { id kind label isDefault } } } }`, nil, &out)
	return out.Viewer.Reseller.PaymentMethods
}

func defaults(ms []method) (n int, label string) {
	for _, m := range ms {
		if m.IsDefault {
			n++
			label = m.Label
		}
	}
	return n, label
}

func TestPaymentMethods(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // registers with tok_visa, the default
		var added struct {
			AddPaymentMethod struct{ PaymentMethod method }
		}
		e.Query(a.Token, addMethod, map[string]any{"tok": "tok_mastercard"}, &added)
		if m := added.AddPaymentMethod.PaymentMethod; m.Label != "Mastercard •••• 4444" || m.IsDefault || m.Kind != "CARD" {
			t.Fatalf("added %+v", m)
		}
		e.Expect("BAD_USER_INPUT", "gatewayToken", a.Token, addMethod, map[string]any{"tok": "tok_unknown"})
		if n, label := defaults(methods(t, e, a.Token)); n != 1 || label != "Visa •••• 4242" {
			t.Fatalf("%d defaults, %q", n, label)
		}
		e.Query(a.Token, `mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { paymentMethod { isDefault } } }`,
			map[string]any{"id": added.AddPaymentMethod.PaymentMethod.ID}, nil)
		if n, label := defaults(methods(t, e, a.Token)); n != 1 || label != "Mastercard •••• 4444" {
			t.Fatalf("after setDefault: %d defaults, %q", n, label)
		}
		e.Query(a.Token, `mutation($id: ID!) { removePaymentMethod(id: $id) { removedID } }`,
			map[string]any{"id": added.AddPaymentMethod.PaymentMethod.ID}, nil)
		if ms := methods(t, e, a.Token); len(ms) != 1 || !ms[0].IsDefault || ms[0].Label != "Visa •••• 4242" {
			t.Fatalf("after removing the default: %+v", ms)
		}
		// Another reseller's method is NOT_FOUND everywhere.
		b := e.Register("bob")
		bMethod := methods(t, e, b.Token)[0].ID
		for _, q := range []string{
			`mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { paymentMethod { id } } }`,
			`mutation($id: ID!) { removePaymentMethod(id: $id) { removedID } }`,
			`mutation($id: ID!) { topUp(input: {amount: "10.00", paymentMethodID: $id}) { transaction { id } } }`,
		} {
			e.Expect("NOT_FOUND", "", a.Token, q, map[string]any{"id": bMethod})
		}
		if len(methods(t, e, b.Token)) != 1 {
			t.Fatal("B's method changed")
		}
	})
}

func TestTopUp(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // balance 250.00
		type result struct {
			TopUp struct {
				Transaction struct{ ID, Kind, Amount, BalanceAfter string }
				Invoice     struct{ ID, Type, Total string }
				Reseller    struct{ Balance, Status string }
			}
		}
		var r result
		e.Query(a.Token, topUp, map[string]any{"amount": "50.00", "key": "t1"}, &r)
		if r.TopUp.Transaction.Kind != "TOP_UP" || r.TopUp.Transaction.BalanceAfter != "300.00" ||
			r.TopUp.Invoice.Type != "PAYMENT_RECEIVED" || r.TopUp.Invoice.Total != "50.00" || r.TopUp.Reseller.Balance != "300.00" {
			t.Fatalf("top-up %+v", r.TopUp)
		}
		// The same key replays; another amount under it is refused.
		var again result
		e.Query(a.Token, topUp, map[string]any{"amount": "50.00", "key": "t1"}, &again)
		if again.TopUp.Transaction.ID != r.TopUp.Transaction.ID || again.TopUp.Reseller.Balance != "300.00" {
			t.Fatalf("replay %+v", again.TopUp)
		}
		e.Expect("IDEMPOTENCY_CONFLICT", "", a.Token, topUp, map[string]any{"amount": "60.00", "key": "t1"})
		// Bad amounts, a declining card, the wrong callers.
		for _, amount := range []any{"0.50", "100000.01", "-5.00"} {
			e.Expect("BAD_USER_INPUT", "amount", a.Token, topUp, map[string]any{"amount": amount})
		}
		e.Expect("BAD_USER_INPUT", "amount", a.Token, topUp, map[string]any{"amount": "10.005"})
		var declining struct {
			AddPaymentMethod struct{ PaymentMethod method }
		}
		e.Query(a.Token, addMethod, map[string]any{"tok": "tok_insufficientFunds"}, &declining)
		e.Expect("PAYMENT_FAILED", "", a.Token, topUp, map[string]any{"amount": "10.00", "pm": declining.AddPaymentMethod.PaymentMethod.ID})
		e.Expect("FORBIDDEN", "", e.OperatorToken, topUp, map[string]any{"amount": "10.00"})
		var tok struct{ CreateAPIToken struct{ Token string } }
		e.Query(a.Token, `mutation { createAPIToken(input: {name: "r", scope: READ}) { token } }`, nil, &tok)
		e.Expect("FORBIDDEN", "", tok.CreateAPIToken.Token, topUp, map[string]any{"amount": "10.00"})
		var me struct {
			Viewer struct{ Reseller struct{ Balance string } }
		}
		e.Query(a.Token, `{ viewer { reseller { balance } } }`, nil, &me)
		if me.Viewer.Reseller.Balance != "300.00" {
			t.Fatalf("failed top-ups moved money: balance %s", me.Viewer.Reseller.Balance)
		}
	})
}

func TestTopUpEndsPastDue(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		ctx := viewer.SystemContext(e.Ctx())
		tx, err := e.DB.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.Post(ctx, tx, ledger.Entry{ResellerID: a.ID, Kind: transaction.KindCHARGE, Amount: -money.MustParse("300.00"), Description: "test"}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Reseller.UpdateOneID(a.ID).SetStatus(reseller.StatusPAST_DUE).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var r struct {
			TopUp struct {
				Reseller struct{ Balance, Status string }
			}
		}
		e.Query(a.Token, topUp, map[string]any{"amount": "20.00"}, &r)
		if r.TopUp.Reseller.Balance != "-30.00" || r.TopUp.Reseller.Status != "PAST_DUE" {
			t.Fatalf("after a partial top-up: %+v", r.TopUp.Reseller)
		}
		e.Query(a.Token, topUp, map[string]any{"amount": "30.00"}, &r)
		if r.TopUp.Reseller.Balance != "0.00" || r.TopUp.Reseller.Status != "ACTIVE" {
			t.Fatalf("after topping up to zero: %+v", r.TopUp.Reseller)
		}
	})
}

// Many top-ups at once, some retrying one key: every distinct key moves
// money exactly once and the balance is the sum of the transactions.
func TestConcurrentTopUps(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		counts := e.Race(30, func(i int) apitest.Request {
			key := fmt.Sprintf("k%d", i%10) // ten keys, each sent three times
			return apitest.Request{Token: a.Token, Query: topUp, Variables: map[string]any{"amount": "10.00", "key": key}}
		})
		if counts[""] != 30 {
			t.Fatalf("answers by code: %v", counts)
		}
		var out struct {
			Viewer       struct{ Reseller struct{ Balance string } }
			Transactions struct {
				Edges []struct{ Node struct{ Amount string } }
			}
		}
		e.Query(a.Token, `{ viewer { reseller { balance } } transactions(first: 100) { edges { node { amount } } } }`, nil, &out)
		var sum money.Cents
		for _, edge := range out.Transactions.Edges {
			sum += money.MustParse(edge.Node.Amount)
		}
		if len(out.Transactions.Edges) != 11 || out.Viewer.Reseller.Balance != "350.00" || sum.String() != "350.00" {
			t.Fatalf("%d transactions summing to %s, balance %s; want 11, 350.00", len(out.Transactions.Edges), sum, out.Viewer.Reseller.Balance)
		}
	})
}

// Removing payment methods at once always leaves exactly one default.
func TestConcurrentRemovalsKeepOneDefault(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // Visa, the default
		for i := 0; i < 2; i++ {
			e.Query(a.Token, addMethod, map[string]any{"tok": "tok_mastercard"}, nil)
		}
		ms := methods(t, e, a.Token)
		var def, newest string
		for _, m := range ms {
			if m.IsDefault {
				def = m.ID
			}
			newest = m.ID
		}
		counts := e.Race(2, func(i int) apitest.Request {
			return apitest.Request{Token: a.Token, Query: `mutation($id: ID!) { removePaymentMethod(id: $id) { removedID } }`,
				Variables: map[string]any{"id": []string{def, newest}[i]}}
		})
		if counts[""] != 2 {
			t.Fatalf("answers by code: %v", counts)
		}
		left := methods(t, e, a.Token)
		if n, _ := defaults(left); len(left) != 1 || n != 1 {
			t.Fatalf("left %+v", left)
		}
	})
}

func TestUnpaidCheckoutsExpire(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		var s struct {
			StartCheckout struct{ Checkout struct{ ID string } }
		}
		e.Query(a.Token, `mutation { startCheckout(input: {amount: "20.00"}) { checkout { id } } }`, nil, &s)
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
			map[string]any{"to": apitest.Start.Add(25 * time.Hour)}, nil)
		if _, err := accounts.NewService(nil).Sweep(e.Ctx(), e.DB.Client); err != nil {
			t.Fatal(err)
		}
		var out struct{ Node struct{ Status string } }
		e.Query(a.Token, `query($id: ID!) { node(id: $id) { ... on Checkout { status } } }`, map[string]any{"id": s.StartCheckout.Checkout.ID}, &out)
		if out.Node.Status != "EXPIRED" {
			t.Fatalf("status after a day: %s", out.Node.Status)
		}
	})
}
