package accounts_test

import (
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/money"
)

const refund = `mutation($txn: ID!, $amount: Money!, $reason: String!, $key: String) {
	refund(input: {transactionID: $txn, amount: $amount, reason: $reason, idempotencyKey: $key}) {
		transaction { id kind amount balanceAfter description } invoice { id type total balance } } }`

type refunded struct {
	Refund struct {
		Transaction struct{ ID, Kind, Amount, BalanceAfter, Description string }
		Invoice     struct{ ID, Type, Total, Balance string }
	}
}

// ledgerOf reads a reseller's balance, its transactions (oldest first) and
// its payment attempts, as the operator, and checks balance = Σ transactions.
func ledgerOf(t *testing.T, e *apitest.Env, resellerID string) (balance string, kinds []string, attempts []attempt) {
	t.Helper()
	type page struct {
		PageInfo struct {
			HasNextPage bool
			EndCursor   string
		}
	}
	var sum money.Cents
	var after, attemptsAfter any
	for more, moreAttempts := true, true; more || moreAttempts; {
		var out struct {
			Node struct {
				Balance      string
				Transactions struct {
					page
					Edges []struct{ Node struct{ Kind, Amount string } }
				}
				PaymentAttempts struct {
					page
					Edges []struct{ Node attempt }
				}
			}
		}
		e.Query(e.OperatorToken, `query($id: ID!, $after: Cursor, $attemptsAfter: Cursor) { node(id: $id) { ... on Reseller { balance
			transactions(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { kind amount } } }
			paymentAttempts(first: 100, after: $attemptsAfter) { pageInfo { hasNextPage endCursor } edges { node { purpose status amount reason declineCode } } } } } }`,
			map[string]any{"id": resellerID, "after": after, "attemptsAfter": attemptsAfter}, &out)
		balance = out.Node.Balance
		if more {
			for _, edge := range out.Node.Transactions.Edges {
				sum += money.MustParse(edge.Node.Amount)
				kinds = append(kinds, edge.Node.Kind)
			}
			more, after = out.Node.Transactions.PageInfo.HasNextPage, out.Node.Transactions.PageInfo.EndCursor
		}
		if moreAttempts {
			for _, edge := range out.Node.PaymentAttempts.Edges {
				attempts = append(attempts, edge.Node)
			}
			moreAttempts, attemptsAfter = out.Node.PaymentAttempts.PageInfo.HasNextPage, out.Node.PaymentAttempts.PageInfo.EndCursor
		}
	}
	if sum.String() != balance {
		t.Fatalf("balance %s, but the transactions sum to %s", balance, sum)
	}
	return balance, kinds, attempts
}

type attempt struct{ Purpose, Status, Amount, Reason, DeclineCode string }

// firstPayment is the reseller's DEPOSIT transaction.
func firstPayment(t *testing.T, e *apitest.Env, token string) string {
	t.Helper()
	var out struct {
		Viewer struct {
			Reseller struct {
				Transactions struct {
					Edges []struct{ Node struct{ ID, Kind string } }
				}
			}
		}
	}
	e.Query(token, `{ viewer { reseller { transactions(first: 1) { edges { node { id kind } } } } } }`, nil, &out)
	if edges := out.Viewer.Reseller.Transactions.Edges; len(edges) != 1 || edges[0].Node.Kind != "DEPOSIT" {
		t.Fatalf("first transaction %+v", edges)
	}
	return out.Viewer.Reseller.Transactions.Edges[0].Node.ID
}

func TestRefunds(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // a 250.00 DEPOSIT
		deposit := firstPayment(t, e, a.Token)
		vars := func(amount, key string) map[string]any {
			return map[string]any{"txn": deposit, "amount": amount, "reason": "customer asked", "key": key}
		}
		// Only operators refund, only payments, only positive amounts.
		e.Expect("FORBIDDEN", "", a.Token, refund, vars("10.00", "k0"))
		e.Expect("BAD_USER_INPUT", "amount", e.OperatorToken, refund, vars("0.00", "k0"))
		e.Expect("NOT_FOUND", "", e.OperatorToken, refund, map[string]any{"txn": "txn_01JD000000000000000000000", "amount": "1.00", "reason": "x"})

		// A partial refund: a negative REFUND transaction and a REFUND invoice.
		var r refunded
		e.Query(e.OperatorToken, refund, vars("100.00", "k1"), &r)
		if r.Refund.Transaction.Kind != "REFUND" || r.Refund.Transaction.Amount != "-100.00" || r.Refund.Transaction.BalanceAfter != "150.00" ||
			r.Refund.Invoice.Type != "REFUND" || r.Refund.Invoice.Total != "-100.00" || r.Refund.Invoice.Balance != "150.00" {
			t.Fatalf("partial refund %+v", r.Refund)
		}
		// The same key replays it; with another amount it is a conflict.
		var again refunded
		e.Query(e.OperatorToken, refund, vars("100.00", "k1"), &again)
		if again.Refund.Transaction.ID != r.Refund.Transaction.ID {
			t.Fatalf("a replay refunded again: %s then %s", r.Refund.Transaction.ID, again.Refund.Transaction.ID)
		}
		e.Expect("IDEMPOTENCY_CONFLICT", "", e.OperatorToken, refund, vars("99.00", "k1"))

		// More than the payment has left is a conflict and moves nothing.
		e.Expect("CONFLICT", "", e.OperatorToken, refund, vars("150.01", "k2"))
		// The rest is fine, then nothing is left.
		e.Query(e.OperatorToken, refund, vars("150.00", "k3"), &r)
		e.Expect("CONFLICT", "", e.OperatorToken, refund, vars("0.01", "k4"))
		balance, kinds, attempts := ledgerOf(t, e, a.ID)
		if balance != "0.00" || len(kinds) != 3 || kinds[1] != "REFUND" || kinds[2] != "REFUND" {
			t.Fatalf("after two refunds: balance %s, transactions %v", balance, kinds)
		}
		var refunds int
		for _, at := range attempts {
			if at.Purpose == "REFUND" && at.Status == "SUCCEEDED" {
				refunds++
			}
		}
		if refunds != 2 {
			t.Fatalf("attempts %+v", attempts)
		}
		// A refund is not itself refundable.
		e.Expect("BAD_USER_INPUT", "transactionID", e.OperatorToken, refund,
			map[string]any{"txn": r.Refund.Transaction.ID, "amount": "1.00", "reason": "x"})
	})
}

// A refund is at most the balance: money the reseller has spent is not
// given back through the card.
func TestRefundIsAtMostTheBalance(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // 250.00
		deposit := firstPayment(t, e, a.Token)
		e.Query(a.Token, setAutopay, map[string]any{"mode": "NONE"}, nil)
		debit(t, e, a.ID, "-200.00")
		e.Expect("CONFLICT", "", e.OperatorToken, refund, map[string]any{"txn": deposit, "amount": "50.01", "reason": "x"})
		var r refunded
		e.Query(e.OperatorToken, refund, map[string]any{"txn": deposit, "amount": "50.00", "reason": "x"}, &r)
		if r.Refund.Transaction.BalanceAfter != "0.00" {
			t.Fatalf("refund %+v", r.Refund)
		}
		ledgerOf(t, e, a.ID)
	})
}

// A provider that refuses the refund moves nothing: PAYMENT_FAILED, the
// balance and the ledger as they were, a DECLINED attempt on record.
func TestDeclinedRefundMovesNothing(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		in := apitest.RegistrationInput("alice")
		in["paymentMethod"] = map[string]any{"gatewayToken": "tok_refundFail"}
		var reg struct {
			RegisterReseller struct {
				Token    string
				Reseller struct{ ID string }
			}
		}
		e.Query("", apitest.RegisterMutation, map[string]any{"input": in}, &reg)
		a := reg.RegisterReseller
		deposit := firstPayment(t, e, a.Token)
		resp := e.Expect("PAYMENT_FAILED", "", e.OperatorToken, refund, map[string]any{"txn": deposit, "amount": "10.00", "reason": "x"})
		if code := resp.Errors[0].Extensions["declineCode"]; code != "refund_failed" {
			t.Fatalf("declineCode %v", code)
		}
		balance, kinds, attempts := ledgerOf(t, e, a.Reseller.ID)
		last := attempts[len(attempts)-1]
		if balance != "250.00" || len(kinds) != 1 || last.Purpose != "REFUND" || last.Status != "DECLINED" {
			t.Fatalf("after a declined refund: balance %s, transactions %v, attempts %+v", balance, kinds, attempts)
		}
	})
}

// A checkout payment is refunded through the checkout provider.
func TestRefundOfACheckoutPayment(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		var s struct {
			StartCheckout struct {
				Checkout struct{ ID, RedirectURL string }
			}
		}
		e.Query(a.Token, `mutation { startCheckout(input: {amount: "40.00"}) { checkout { id redirectURL } } }`, nil, &s)
		resp, err := e.Server.Client().Post(s.StartCheckout.Checkout.RedirectURL+"/pay", "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var out struct {
			Viewer struct {
				Reseller struct {
					Transactions struct {
						Edges []struct {
							Node struct{ ID, Kind, Amount string }
						}
					}
				}
			}
		}
		e.Query(a.Token, `{ viewer { reseller { transactions(last: 1) { edges { node { id kind amount } } } } } }`, nil, &out)
		paid := out.Viewer.Reseller.Transactions.Edges[0].Node
		if paid.Kind != "TOP_UP" || paid.Amount != "40.00" {
			t.Fatalf("checkout payment %+v", paid)
		}
		var r refunded
		e.Query(e.OperatorToken, refund, map[string]any{"txn": paid.ID, "amount": "40.00", "reason": "x"}, &r)
		e.Expect("CONFLICT", "", e.OperatorToken, refund, map[string]any{"txn": paid.ID, "amount": "0.01", "reason": "x"})
		if balance, _, _ := ledgerOf(t, e, a.ID); balance != "250.00" {
			t.Fatalf("balance %s", balance)
		}
	})
}
