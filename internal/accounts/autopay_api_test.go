package accounts_test

import (
	"fmt"
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/money"
)

const (
	adjust = `mutation($rid: ID!, $amount: Money!, $reason: String!, $key: String) {
		adjustBalance(input: {resellerID: $rid, amount: $amount, reason: $reason, idempotencyKey: $key}) { transaction { id kind amount } } }`
	setAutopay = `mutation($mode: AutopaymentMode!, $target: Money) { setAutopayment(input: {mode: $mode, targetAmount: $target}) {
		autopayment { mode threshold targetAmount minimumCharge } } }`
	account = `{ viewer { reseller { balance status autopayment { mode }
		transactions(first: 50) { edges { node { kind amount balanceAfter invoice { type } } } }
		paymentAttempts(first: 10) { edges { node { purpose amount status reason } } } } } }`
)

type accountState struct {
	Viewer struct {
		Reseller struct {
			Balance, Status string
			Transactions    struct {
				Edges []struct {
					Node struct {
						Kind, Amount, BalanceAfter string
						Invoice                    *struct{ Type string }
					}
				}
			}
			PaymentAttempts struct {
				Edges []struct {
					Node struct{ Purpose, Amount, Status, Reason string }
				}
			}
		}
	}
}

func state(t *testing.T, e *apitest.Env, token string) accountState {
	t.Helper()
	var s accountState
	e.Query(token, account, nil, &s)
	return s
}

func (s accountState) kinds() map[string]int {
	out := map[string]int{}
	for _, edge := range s.Viewer.Reseller.Transactions.Edges {
		out[edge.Node.Kind]++
	}
	return out
}

func debit(t *testing.T, e *apitest.Env, rid, amount string) {
	t.Helper()
	e.Query(e.OperatorToken, adjust, map[string]any{"rid": rid, "amount": amount, "reason": "test debit"}, nil)
}

func TestAutoRepayAfterADebit(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // 250.00, AUTO_REPAY by default
		debit(t, e, a.ID, "-260.00")
		s := state(t, e, a.Token)
		r := s.Viewer.Reseller
		// Owed 10.00, so the 20.00 minimum is charged.
		if r.Balance != "10.00" || r.Status != "ACTIVE" || s.kinds()["AUTOPAYMENT"] != 1 {
			t.Fatalf("after the debit: %+v", r)
		}
		edges := r.Transactions.Edges // oldest first on the Reseller's edge
		newest := edges[len(edges)-1].Node
		if newest.Kind != "AUTOPAYMENT" || newest.Amount != "20.00" || newest.Invoice == nil || newest.Invoice.Type != "PAYMENT_RECEIVED" {
			t.Fatalf("autopayment %+v", newest)
		}
		// Every charge is an attempt: the deposit, then the autopayment.
		if at := r.PaymentAttempts.Edges; len(at) != 2 || at[0].Node.Purpose != "DEPOSIT" || at[1].Node.Purpose != "AUTOPAYMENT" ||
			at[1].Node.Status != "SUCCEEDED" || at[1].Node.Amount != "20.00" {
			t.Fatalf("attempts %+v", at)
		}
	})
}

func TestAutoAddFunds(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.Expect("BAD_USER_INPUT", "targetAmount", a.Token, setAutopay, map[string]any{"mode": "AUTO_ADD_FUNDS"})
		e.Expect("BAD_USER_INPUT", "targetAmount", a.Token, setAutopay, map[string]any{"mode": "AUTO_ADD_FUNDS", "target": "100.00"})
		e.Expect("BAD_USER_INPUT", "targetAmount", a.Token, setAutopay, map[string]any{"mode": "NONE", "target": "300.00"})
		e.Expect("FORBIDDEN", "", e.OperatorToken, setAutopay, map[string]any{"mode": "NONE"})
		var set struct {
			SetAutopayment struct {
				Autopayment struct{ Mode, Threshold, TargetAmount string }
			}
		}
		e.Query(a.Token, setAutopay, map[string]any{"mode": "AUTO_ADD_FUNDS", "target": "300.00"}, &set)
		if ap := set.SetAutopayment.Autopayment; ap.Mode != "AUTO_ADD_FUNDS" || ap.Threshold != "100.00" || ap.TargetAmount != "300.00" {
			t.Fatalf("autopayment %+v", ap)
		}
		debit(t, e, a.ID, "-120.00") // 130.00: above the threshold, nothing happens
		if s := state(t, e, a.Token); s.Viewer.Reseller.Balance != "130.00" || s.kinds()["AUTOPAYMENT"] != 0 {
			t.Fatalf("above the threshold: %+v", s.Viewer.Reseller)
		}
		debit(t, e, a.ID, "-80.00") // 50.00: topped up to the target
		if s := state(t, e, a.Token); s.Viewer.Reseller.Balance != "300.00" || s.kinds()["AUTOPAYMENT"] != 1 {
			t.Fatalf("below the threshold: %+v", s.Viewer.Reseller)
		}
	})
}

func TestNoAutopaymentAndDeclinesLeavePastDue(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.Query(a.Token, setAutopay, map[string]any{"mode": "NONE"}, nil)
		debit(t, e, a.ID, "-300.00")
		if s := state(t, e, a.Token); s.Viewer.Reseller.Balance != "-50.00" || s.Viewer.Reseller.Status != "PAST_DUE" || s.kinds()["AUTOPAYMENT"] != 0 {
			t.Fatalf("NONE after a debit below zero: %+v", s.Viewer.Reseller)
		}
		e.Expect("PAYMENT_REQUIRED", "", a.Token, `mutation { addIPLicense(input: {ip: "203.0.113.5", type: KERNELCARE}) { license { id } } }`, nil)
		e.Query(a.Token, topUp, map[string]any{"amount": "50.00"}, nil)
		if s := state(t, e, a.Token); s.Viewer.Reseller.Status != "ACTIVE" {
			t.Fatalf("after topping up to zero: %+v", s.Viewer.Reseller)
		}

		// A declined autopayment moves nothing, is recorded, and leaves PAST_DUE.
		e.Query(a.Token, setAutopay, map[string]any{"mode": "AUTO_REPAY"}, nil)
		e.Query(a.Token, addMethod, map[string]any{"tok": "tok_chargeDeclined", "def": true}, nil)
		debit(t, e, a.ID, "-5.00")
		s := state(t, e, a.Token)
		r := s.Viewer.Reseller
		if r.Balance != "-5.00" || r.Status != "PAST_DUE" || s.kinds()["AUTOPAYMENT"] != 0 {
			t.Fatalf("after a declined autopayment: %+v", r)
		}
		at := r.PaymentAttempts.Edges
		at = at[len(at)-1:]
		if at[0].Node.Purpose != "AUTOPAYMENT" || at[0].Node.Status != "DECLINED" || at[0].Node.Amount != "20.00" || at[0].Node.Reason == "" {
			t.Fatalf("attempts %+v", at)
		}
	})
}

func TestAdjustBalance(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		vars := func(amount, reason, key string) map[string]any {
			return map[string]any{"rid": a.ID, "amount": amount, "reason": reason, "key": key}
		}
		e.Expect("FORBIDDEN", "", a.Token, adjust, vars("10.00", "x", ""))
		e.Expect("BAD_USER_INPUT", "amount", e.OperatorToken, adjust, vars("0.00", "x", ""))
		e.Expect("BAD_USER_INPUT", "reason", e.OperatorToken, adjust, vars("10.00", "  ", ""))
		e.Expect("BAD_USER_INPUT", "amount", e.OperatorToken, adjust, vars("10.001", "x", ""))
		e.Expect("NOT_FOUND", "", e.OperatorToken, adjust, map[string]any{"rid": "rsl_01JD3QZ6W3J5P8Q3S7T0V1W2X3", "amount": "1.00", "reason": "x"})
		var first, again struct {
			AdjustBalance struct {
				Transaction struct{ ID, Kind, Amount string }
			}
		}
		e.Query(e.OperatorToken, adjust, vars("15.50", "goodwill credit", "adj-1"), &first)
		e.Query(e.OperatorToken, adjust, vars("15.50", "goodwill credit", "adj-1"), &again)
		if first.AdjustBalance.Transaction.Kind != "ADJUSTMENT" || again.AdjustBalance.Transaction.ID != first.AdjustBalance.Transaction.ID {
			t.Fatalf("adjustment %+v, replay %+v", first, again)
		}
		e.Expect("IDEMPOTENCY_CONFLICT", "", e.OperatorToken, adjust, vars("16.00", "goodwill credit", "adj-1"))
		if s := state(t, e, a.Token); s.Viewer.Reseller.Balance != "265.50" {
			t.Fatalf("balance %s after one credit of 15.50", s.Viewer.Reseller.Balance)
		}
	})
}

// Debits racing on one AUTO_REPAY reseller: each autopayment charges what is
// owed at its moment, none twice, and the balance is the sum of the ledger.
func TestConcurrentDebitsAndAutopayments(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // 250.00
		counts := e.Race(20, func(i int) apitest.Request {
			return apitest.Request{Token: e.OperatorToken, Query: adjust,
				Variables: map[string]any{"rid": a.ID, "amount": "-30.00", "reason": fmt.Sprint("debit ", i)}}
		})
		if counts[""] != 20 {
			t.Fatalf("answers by code: %v", counts)
		}
		s := state(t, e, a.Token)
		var sum money.Cents
		for _, edge := range s.Viewer.Reseller.Transactions.Edges {
			sum += money.MustParse(edge.Node.Amount)
		}
		balance := money.MustParse(s.Viewer.Reseller.Balance)
		if balance != sum || balance < 0 || s.Viewer.Reseller.Status != "ACTIVE" {
			t.Fatalf("balance %s, Σ transactions %s, status %s", balance, sum, s.Viewer.Reseller.Status)
		}
		// 250 − 600 = −350 was covered by autopayments of at least 20.00 each,
		// never more than what was owed then (or the 20.00 minimum).
		var charged money.Cents
		for _, edge := range s.Viewer.Reseller.Transactions.Edges {
			if edge.Node.Kind == "AUTOPAYMENT" {
				charged += money.MustParse(edge.Node.Amount)
			}
		}
		if charged < money.MustParse("350.00") || charged > money.MustParse("350.00")+money.MustParse("20.00")*20 {
			t.Fatalf("autopayments charged %s in all", charged)
		}
	})
}

// Top-ups and debits (with their autopayments) of one reseller at once: one
// lock order everywhere, so none deadlocks, and the ledger adds up.
func TestTopUpsAndDebitsTogether(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		counts := e.Race(20, func(i int) apitest.Request {
			if i%2 == 0 {
				return apitest.Request{Token: a.Token, Query: topUp, Variables: map[string]any{"amount": "15.00"}}
			}
			return apitest.Request{Token: e.OperatorToken, Query: adjust,
				Variables: map[string]any{"rid": a.ID, "amount": "-40.00", "reason": fmt.Sprint("debit ", i)}}
		})
		if counts[""] != 20 {
			t.Fatalf("answers by code: %v", counts)
		}
		s := state(t, e, a.Token)
		var sum money.Cents
		for _, edge := range s.Viewer.Reseller.Transactions.Edges {
			sum += money.MustParse(edge.Node.Amount)
		}
		if money.MustParse(s.Viewer.Reseller.Balance) != sum {
			t.Fatalf("balance %s, Σ transactions %s", s.Viewer.Reseller.Balance, sum)
		}
	})
}
