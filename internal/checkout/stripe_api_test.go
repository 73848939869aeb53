package checkout_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/checkout"
	"clnd/internal/payments/stripefake"
	"clnd/internal/payments/stripegw"
	"clnd/internal/server"
)

// These tests run clnd with its Stripe gateway pointed at stripefake, a
// local Stripe that speaks the documented HTTP API, and drive it only
// through clnd's GraphQL API and its Stripe webhook route. The fake posts
// its events to clnd before the API answer that raised them, as Stripe may,
// so every flow here also races the webhook against the answer.

const (
	addCard = `mutation($tok: String!) { addPaymentMethod(input: {gatewayToken: $tok}) { paymentMethod { id label isDefault } } }`
	topUp   = `mutation($amount: Money!, $pm: ID, $key: String) {
		topUp(input: {amount: $amount, paymentMethodID: $pm, idempotencyKey: $key}) {
			transaction { id kind amount } reseller { balance } } }`
	refund = `mutation($txn: ID!, $amount: Money!, $key: String) {
		refund(input: {transactionID: $txn, amount: $amount, reason: "goodwill", idempotencyKey: $key}) {
			transaction { id kind amount balanceAfter } invoice { type total } } }`
)

func TestStripeSaveAndCharge(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa") // deposit 250.00
		if cs := fake.Customers(); len(cs) != 1 || cs[0].Email != "alice@example.com" {
			t.Fatalf("registration made customers %+v", cs)
		}
		deposit := fake.Charges()
		if len(deposit) != 1 || deposit[0].Amount != 25000 || deposit[0].Customer != fake.Customers()[0].ID {
			t.Fatalf("the deposit at Stripe: %+v", deposit)
		}

		// The second card joins the reseller's Customer, and charging it
		// names that Customer (Stripe refuses a card of another one).
		master := addCardID(t, e, a.Token, "pm_card_mastercard")
		if cs := fake.Customers(); len(cs) != 1 {
			t.Fatalf("a second card made another customer: %+v", cs)
		}
		var r topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "50.00", "pm": master, "key": "t1"}, &r)
		if r.TopUp.Transaction.Kind != "TOP_UP" || r.TopUp.Reseller.Balance != "300.00" {
			t.Fatalf("top-up %+v", r.TopUp)
		}
		attempt := attemptOf(t, e, a.Token, r.TopUp.Transaction.ID)
		charges := fake.Charges()
		if len(charges) != 2 {
			t.Fatalf("the fake saw %d charges, want the deposit and the top-up", len(charges))
		}
		c := charges[1]
		if c.Amount != 5000 || c.IdempotencyKey != attempt.ID || c.Metadata["attempt_id"] != attempt.ID ||
			c.PaymentIntentID != attempt.GatewayRef || c.Customer != deposit[0].Customer {
			t.Fatalf("the top-up at Stripe %+v, attempt %+v", c, attempt)
		}

		// A retry with the key replays the answer and charges nothing.
		var again topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "50.00", "pm": master, "key": "t1"}, &again)
		if again.TopUp.Transaction.ID != r.TopUp.Transaction.ID || len(fake.Charges()) != 2 {
			t.Fatalf("the retry: %+v, %d charges at Stripe", again.TopUp, len(fake.Charges()))
		}
		if b, n := balance(t, e, a.Token); b != "300.00" || n != 2 {
			t.Fatalf("balance %s with %d transactions", b, n)
		}
		// The webhooks that raced the answers were taken and changed nothing.
		for _, d := range fake.Deliveries() {
			if d.Status != http.StatusOK {
				t.Fatalf("delivery %+v", d)
			}
		}
		e.Expect("BAD_USER_INPUT", "gatewayToken", a.Token, addCard, map[string]any{"tok": "tok_visa"})
		e.Expect("BAD_USER_INPUT", "gatewayToken", a.Token, addCard, map[string]any{"tok": "pm_card_unknown"})
	})
}

func TestStripeDecline(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa")
		declining := addCardID(t, e, a.Token, "pm_card_chargeDeclinedInsufficientFunds")
		r := e.Expect("PAYMENT_FAILED", "", a.Token, topUp, map[string]any{"amount": "40.00", "pm": declining})
		ext := r.Errors[0].Extensions
		if ext["declineCode"] != "insufficient_funds" || ext["paymentAttemptID"] == nil || ext["requiresAction"] != nil {
			t.Fatalf("the decline says %v", ext)
		}
		at := attemptByID(t, e, a.Token, ext["paymentAttemptID"].(string))
		if at.Status != "DECLINED" || at.DeclineCode != "insufficient_funds" || at.Amount != "40.00" || at.Transaction != nil ||
			!strings.HasPrefix(at.GatewayRef, "pi_") {
			t.Fatalf("the declined attempt %+v", at)
		}
		if b, n := balance(t, e, a.Token); b != "250.00" || n != 1 || len(fake.Charges()) != 1 {
			t.Fatalf("a decline moved money: balance %s, %d transactions, %d charges at Stripe", b, n, len(fake.Charges()))
		}
	})
}

// Off-session, a card that needs 3-D Secure fails with
// authentication_required; the dashboard finishes the payment with the
// client secret and Stripe then sends payment_intent.succeeded, the only
// word clnd gets that the money moved.
func TestStripeThreeDSecureCompletedByWebhook(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa")
		card := addCardID(t, e, a.Token, "pm_card_authenticationRequired")
		r := e.Expect("PAYMENT_FAILED", "", a.Token, topUp, map[string]any{"amount": "80.00", "pm": card, "key": "3ds"})
		ext := r.Errors[0].Extensions
		secret, _ := ext["clientSecret"].(string)
		if ext["requiresAction"] != true || !strings.HasPrefix(secret, "pi_") {
			t.Fatalf("3-D Secure says %v", ext)
		}
		at := attemptByID(t, e, a.Token, ext["paymentAttemptID"].(string))
		if at.Status != "REQUIRES_ACTION" || at.DeclineCode != "authentication_required" {
			t.Fatalf("the attempt waiting for the payer %+v", at)
		}
		piID, _, _ := strings.Cut(secret, "_secret_") // Stripe.js confirms this PaymentIntent
		if at.GatewayRef != piID {
			t.Fatalf("the attempt names PaymentIntent %q, the client secret %q", at.GatewayRef, piID)
		}
		if b, _ := balance(t, e, a.Token); b != "250.00" {
			t.Fatalf("3-D Secure pending moved money: %s", b)
		}

		// The payer authenticates in the dashboard; Stripe says so.
		pi, ok := fake.PaymentIntentObject(piID)
		if !ok {
			t.Fatalf("no PaymentIntent %q at Stripe", piID)
		}
		pi["status"], pi["last_payment_error"], pi["amount_received"] = "succeeded", nil, pi["amount"]
		succeeded := fake.Event("payment_intent.succeeded", pi)

		// Forged, tampered and stale deliveries are refused and change nothing.
		tampered := bytes.Replace(succeeded, []byte(`"amount":8000`), []byte(`"amount":800000`), 1)
		if bytes.Equal(tampered, succeeded) {
			t.Fatalf("the event has no amount to tamper with: %s", succeeded)
		}
		for name, d := range map[string]struct {
			body []byte
			sig  string
		}{
			"unsigned":         {succeeded, ""},
			"another secret":   {succeeded, signStripe("whsec_forged", succeeded, time.Now())},
			"tampered":         {tampered, fake.SignedHeader(succeeded)},
			"older than 5 min": {succeeded, fake.SignedHeaderAt(succeeded, time.Now().Add(-6*time.Minute))},
		} {
			if code := postStripe(t, e, d.body, d.sig); code != http.StatusBadRequest {
				t.Fatalf("%s delivery answered %d", name, code)
			}
		}
		if b, _ := balance(t, e, a.Token); b != "250.00" {
			t.Fatalf("refused deliveries moved money: %s", b)
		}

		if code := postStripe(t, e, succeeded, fake.SignedHeader(succeeded)); code != http.StatusOK {
			t.Fatalf("the payer's success answered %d", code)
		}
		if b, n := balance(t, e, a.Token); b != "330.00" || n != 2 {
			t.Fatalf("after 3-D Secure: balance %s with %d transactions", b, n)
		}
		// Stripe redelivers the same event, and may send a second one
		// about the same PaymentIntent: neither credits again.
		if code := postStripe(t, e, succeeded, fake.SignedHeader(succeeded)); code != http.StatusOK {
			t.Fatalf("the redelivery answered %d", code)
		}
		another := fake.Event("payment_intent.succeeded", pi)
		if code := postStripe(t, e, another, fake.SignedHeader(another)); code != http.StatusOK {
			t.Fatalf("a second event answered %d", code)
		}
		if b, n := balance(t, e, a.Token); b != "330.00" || n != 2 {
			t.Fatalf("repeated events credited again: balance %s with %d transactions", b, n)
		}
		if at := attemptByID(t, e, a.Token, at.ID); at.Status != "SUCCEEDED" || at.Transaction == nil {
			t.Fatalf("the attempt after the payer finished %+v", at)
		}
		// The request's key now answers the credited top-up.
		var replay topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "80.00", "pm": card, "key": "3ds"}, &replay)
		if replay.TopUp.Transaction.Amount != "80.00" || replay.TopUp.Reseller.Balance != "330.00" {
			t.Fatalf("the key after 3-D Secure answers %+v", replay.TopUp)
		}
	})
}

// Stripe does not promise the order of its events: a payment_failed about
// an attempt that succeeded (an earlier try's failure, delivered late)
// must not undo the credit.
func TestStripeEventsOutOfOrder(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa")
		var r topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "20.00"}, &r)
		at := attemptOf(t, e, a.Token, r.TopUp.Transaction.ID)
		pi, _ := fake.PaymentIntentObject(at.GatewayRef)
		pi["status"] = "requires_payment_method"
		pi["last_payment_error"] = map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."}
		late := fake.Event("payment_intent.payment_failed", pi)
		if code := postStripe(t, e, late, fake.SignedHeader(late)); code != http.StatusOK {
			t.Fatalf("the late failure answered %d", code)
		}
		if after := attemptByID(t, e, a.Token, at.ID); after.Status != "SUCCEEDED" || after.DeclineCode != "" {
			t.Fatalf("a late failure changed the attempt: %+v", after)
		}
		if b, n := balance(t, e, a.Token); b != "270.00" || n != 2 {
			t.Fatalf("balance %s with %d transactions", b, n)
		}
	})
}

// The charge goes through at Stripe but its answer is lost: clnd cannot
// know, says UNAVAILABLE, and keeps the attempt PENDING; asking again with
// the same key (the client's retry, or the reconciler) reaches the same
// PaymentIntent at Stripe, so the money is recorded once and taken once.
func TestStripeLostAnswer(t *testing.T) {
	eachStripe(t, 2*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa")

		// Stripe's webhook, posted before the answer that got lost, tells
		// clnd while it waits: the top-up answers as if nothing was lost.
		fake.LoseResponses(1)
		var healed topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "1.00"}, &healed)
		if healed.TopUp.Reseller.Balance != "251.00" || len(fake.Charges()) != 2 {
			t.Fatalf("a lost answer with the webhook: %+v, %d charges at Stripe", healed.TopUp, len(fake.Charges()))
		}

		// Stripe's edge answers 500 without doing anything: the outcome is
		// just as unknown to clnd, and the retry charges once.
		fake.FailNext(1, http.StatusInternalServerError)
		e.Expect("UNAVAILABLE", "", a.Token, topUp, map[string]any{"amount": "2.00", "key": "500"})
		e.Query(a.Token, topUp, map[string]any{"amount": "2.00", "key": "500"}, &healed)
		if healed.TopUp.Reseller.Balance != "253.00" || len(fake.Charges()) != 3 {
			t.Fatalf("a retry after a 500: %+v, %d charges at Stripe", healed.TopUp, len(fake.Charges()))
		}

		// Without the webhook (delayed, or not configured) clnd cannot know.
		fake.SendEventsTo("")
		fake.LoseResponses(1)
		r := e.Expect("UNAVAILABLE", "", a.Token, topUp, map[string]any{"amount": "60.00", "key": "lost"})
		id, _ := r.Errors[0].Extensions["paymentAttemptID"].(string)
		if at := attemptByID(t, e, a.Token, id); at.Status != "PENDING" {
			t.Fatalf("the attempt whose answer was lost %+v", at)
		}
		if b, _ := balance(t, e, a.Token); b != "253.00" || len(fake.Charges()) != 4 {
			t.Fatalf("before the retry: balance %s, %d charges at Stripe (the lost one went through)", b, len(fake.Charges()))
		}
		var retried topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "60.00", "key": "lost"}, &retried)
		if retried.TopUp.Reseller.Balance != "313.00" {
			t.Fatalf("the retry %+v", retried.TopUp)
		}
		if cs := fake.Charges(); len(cs) != 4 || cs[3].IdempotencyKey != id {
			t.Fatalf("Stripe charged %+v", cs)
		}

		// Nobody retries this one: the operator's settlePaymentAttempts
		// (the reconciler's work) records it.
		fake.LoseResponses(1)
		r = e.Expect("UNAVAILABLE", "", a.Token, topUp, map[string]any{"amount": "5.00"})
		id, _ = r.Errors[0].Extensions["paymentAttemptID"].(string)
		e.Expect("FORBIDDEN", "", a.Token, settle, nil)
		var s struct {
			SettlePaymentAttempts struct{ Settled, Pending int }
		}
		e.Query(e.OperatorToken, settle, nil, &s)
		if s.SettlePaymentAttempts.Settled != 1 || s.SettlePaymentAttempts.Pending != 0 {
			t.Fatalf("settlePaymentAttempts %+v", s.SettlePaymentAttempts)
		}
		if at := attemptByID(t, e, a.Token, id); at.Status != "SUCCEEDED" {
			t.Fatalf("the settled attempt %+v", at)
		}
		if b, n := balance(t, e, a.Token); b != "318.00" || n != 5 || len(fake.Charges()) != 5 {
			t.Fatalf("after settling: balance %s with %d transactions, %d charges at Stripe", b, n, len(fake.Charges()))
		}
		e.Query(e.OperatorToken, settle, nil, &s)
		if s.SettlePaymentAttempts.Settled != 0 || len(fake.Charges()) != 5 {
			t.Fatalf("settling again %+v, %d charges", s.SettlePaymentAttempts, len(fake.Charges()))
		}
	})
}

func TestStripeRefundAndDispute(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa")
		var r topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "100.00"}, &r)
		paid := attemptOf(t, e, a.Token, r.TopUp.Transaction.ID)
		txn := r.TopUp.Transaction.ID

		var first refundResult
		e.Query(e.OperatorToken, refund, map[string]any{"txn": txn, "amount": "30.00", "key": "r1"}, &first)
		if first.Refund.Transaction.Kind != "REFUND" || first.Refund.Transaction.Amount != "-30.00" ||
			first.Refund.Transaction.BalanceAfter != "320.00" || first.Refund.Invoice.Type != "REFUND" {
			t.Fatalf("the first refund %+v", first.Refund)
		}
		// The operator's retry of the same refund gives nothing more back.
		var replay refundResult
		e.Query(e.OperatorToken, refund, map[string]any{"txn": txn, "amount": "30.00", "key": "r1"}, &replay)
		if replay.Refund.Transaction.ID != first.Refund.Transaction.ID || len(fake.Refunds()) != 1 {
			t.Fatalf("the replay %+v, %d refunds at Stripe", replay.Refund, len(fake.Refunds()))
		}
		e.Expect("CONFLICT", "", e.OperatorToken, refund, map[string]any{"txn": txn, "amount": "70.01"})
		e.Expect("FORBIDDEN", "", a.Token, refund, map[string]any{"txn": txn, "amount": "1.00"})
		var rest refundResult
		e.Query(e.OperatorToken, refund, map[string]any{"txn": txn, "amount": "70.00"}, &rest)
		if rest.Refund.Transaction.BalanceAfter != "250.00" {
			t.Fatalf("the rest %+v", rest.Refund)
		}
		e.Expect("CONFLICT", "", e.OperatorToken, refund, map[string]any{"txn": txn, "amount": "0.01"})

		refunds := fake.Refunds()
		if len(refunds) != 2 || refunds[0].Amount != 3000 || refunds[1].Amount != 7000 ||
			refunds[0].PaymentIntentID != paid.GatewayRef || refunds[1].PaymentIntentID != paid.GatewayRef ||
			refunds[0].IdempotencyKey == refunds[1].IdempotencyKey {
			t.Fatalf("refunds at Stripe %+v (the charge %s)", refunds, paid.GatewayRef)
		}
		if cs := fake.Charges(); cs[1].AmountRefunded != 10000 {
			t.Fatalf("the charge at Stripe %+v", cs[1])
		}

		// A chargeback is for a human: the operator sees it, a reseller
		// may not list the providers' events at all.
		if _, err := fake.Dispute(paid.GatewayRef, "fraudulent"); err != nil {
			t.Fatal(err)
		}
		var ev struct {
			GatewayEvents struct {
				Edges []struct {
					Node struct {
						Provider, Type, Reference, Summary string
						ResellerID                         *string
						Amount                             *string
					}
				}
			}
		}
		e.Query(e.OperatorToken, `{ gatewayEvents(first: 50) { edges { node { provider type reference summary resellerID amount } } } }`, nil, &ev)
		var disputes, refunded int
		for _, edge := range ev.GatewayEvents.Edges {
			n := edge.Node
			switch n.Type {
			case "charge.dispute.created":
				disputes++
				if n.Provider != "stripe" || !strings.HasPrefix(n.Reference, "dp_") || !strings.Contains(n.Summary, "fraudulent") ||
					n.ResellerID == nil || *n.ResellerID != a.ID {
					t.Fatalf("the dispute as recorded %+v", n)
				}
			case "charge.refunded":
				// Both were clnd's own refunds: nothing for an operator to adjust.
				refunded++
				if !strings.Contains(n.Summary, "refunded by clnd") {
					t.Fatalf("clnd's refund as recorded %+v", n)
				}
			}
		}
		if disputes != 1 || refunded != 2 {
			t.Fatalf("gateway events: %d disputes, %d refunds in %+v", disputes, refunded, ev.GatewayEvents.Edges)
		}
		// A refund an operator made in Stripe's dashboard is not clnd's:
		// that one needs an adjustment.
		var other topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "20.00"}, &other)
		ch, _ := fake.ChargeObject(attemptOf(t, e, a.Token, other.TopUp.Transaction.ID).GatewayRef)
		ch["amount_refunded"], ch["refunded"] = 500, false
		outside := fake.Event("charge.refunded", ch)
		if code := postStripe(t, e, outside, fake.SignedHeader(outside)); code != http.StatusOK {
			t.Fatalf("a refund made at Stripe answered %d", code)
		}
		e.Query(e.OperatorToken, `{ gatewayEvents(first: 50) { edges { node { provider type reference summary resellerID amount } } } }`, nil, &ev)
		var atStripe int
		for _, edge := range ev.GatewayEvents.Edges {
			if n := edge.Node; n.Reference == ch["id"] {
				atStripe++
				if n.Type != "charge.refunded" || !strings.Contains(n.Summary, "adjustment") || n.Amount == nil || *n.Amount != "5.00" {
					t.Fatalf("a refund made at Stripe as recorded %+v", n)
				}
			}
		}
		if atStripe != 1 {
			t.Fatalf("%d events about the refund made at Stripe", atStripe)
		}
		e.Expect("FORBIDDEN", "", a.Token, `{ gatewayEvents { totalCount } }`, nil)
		if b, _ := balance(t, e, a.Token); b != "270.00" {
			t.Fatalf("a dispute or a refund at Stripe moved money by itself: %s", b)
		}
	})
}

// A deposit Stripe declines leaves no account behind, even when Stripe's
// payment_failed webhook reaches clnd before the answer does.
func TestStripeDeclinedDeposit(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		for _, card := range []string{"pm_card_chargeDeclined", "pm_card_authenticationRequired"} {
			in := apitest.RegistrationInput("alice")
			in["paymentMethod"] = map[string]any{"gatewayToken": card}
			r := e.Expect("PAYMENT_FAILED", "", "", apitest.RegisterMutation, map[string]any{"input": in})
			if r.Errors[0].Extensions["requiresAction"] != nil {
				t.Fatalf("a deposit cannot wait for the payer: %s", r.Raw)
			}
		}
		e.Expect("UNAUTHENTICATED", "", "", `mutation { login(input: {login: "alice", password: "correct horse battery"}) { token } }`, nil)
		var rs struct{ Resellers struct{ TotalCount int } }
		e.Query(e.OperatorToken, `{ resellers { totalCount } }`, nil, &rs)
		if rs.Resellers.TotalCount != 0 || len(fake.Charges()) != 0 {
			t.Fatalf("declined deposits left %d resellers, %d charges", rs.Resellers.TotalCount, len(fake.Charges()))
		}
		registerWithCard(t, e, "alice", "pm_card_visa") // the login is free again
	})
}

// A debit makes an autopayment due: it is charged off-session at Stripe
// once, keyed by its attempt, while Stripe's webhook races the answer; a
// declining default card leaves the reseller past due.
func TestStripeAutopayment(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa")
		debit := func(amount, key string) {
			t.Helper()
			e.Query(e.OperatorToken, `mutation($r: ID!, $a: Money!, $k: String) {
				adjustBalance(input: {resellerID: $r, amount: $a, reason: "test debit", idempotencyKey: $k}) { transaction { id } } }`,
				map[string]any{"r": a.ID, "a": amount, "k": key}, nil)
		}
		debit("-300.00", "d1") // 250.00 → -50.00: AUTO_REPAY charges 50.00
		if b, n := balance(t, e, a.Token); b != "0.00" || n != 3 {
			t.Fatalf("after the autopayment: balance %s with %d transactions", b, n)
		}
		var auto attempt
		for _, at := range attempts(t, e, a.Token) {
			if at.Purpose == "AUTOPAYMENT" {
				auto = at
			}
		}
		charges := fake.Charges()
		if auto.Status != "SUCCEEDED" || len(charges) != 2 || charges[1].Amount != 5000 || charges[1].IdempotencyKey != auto.ID {
			t.Fatalf("the autopayment %+v, at Stripe %+v", auto, charges)
		}
		debit("-300.00", "d1") // the operator's retry
		if b, _ := balance(t, e, a.Token); b != "0.00" || len(fake.Charges()) != 2 {
			t.Fatalf("a retried debit: balance %s, %d charges", b, len(fake.Charges()))
		}

		declining := addCardID(t, e, a.Token, "pm_card_chargeDeclined")
		e.Query(a.Token, `mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { paymentMethod { id } } }`, map[string]any{"id": declining}, nil)
		debit("-10.00", "d2")
		var me struct {
			Viewer struct {
				Reseller struct{ Balance, Status string }
			}
		}
		e.Query(a.Token, `{ viewer { reseller { balance status } } }`, nil, &me)
		if me.Viewer.Reseller.Balance != "-10.00" || me.Viewer.Reseller.Status != "PAST_DUE" || len(fake.Charges()) != 2 {
			t.Fatalf("after a declined autopayment: %+v, %d charges", me.Viewer.Reseller, len(fake.Charges()))
		}

		// A card that needs 3-D Secure cannot pay an autopayment: nobody
		// is there to authenticate it, so it is declined like any other
		// and the reseller stays past due until it pays on-session.
		e.Query(a.Token, topUp, map[string]any{"amount": "10.00", "pm": addCardID(t, e, a.Token, "pm_card_visa")}, nil)
		needs3DS := addCardID(t, e, a.Token, "pm_card_authenticationRequired")
		e.Query(a.Token, `mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { paymentMethod { id } } }`, map[string]any{"id": needs3DS}, nil)
		debit("-20.00", "d3")
		e.Query(a.Token, `{ viewer { reseller { balance status } } }`, nil, &me)
		var waiting int
		for _, at := range attempts(t, e, a.Token) {
			if at.Purpose == "AUTOPAYMENT" && at.Status == "REQUIRES_ACTION" {
				waiting++
			}
		}
		if me.Viewer.Reseller.Balance != "-20.00" || me.Viewer.Reseller.Status != "PAST_DUE" || waiting != 0 {
			t.Fatalf("after an autopayment needing 3-D Secure: %+v, %d waiting for nobody", me.Viewer.Reseller, waiting)
		}
	})
}

// A client that sends the same top-up several times at once (a double
// click, a retrying proxy) is charged once: the requests share one attempt
// and its key at Stripe. Some may be told UNAVAILABLE (Stripe refuses a
// key that is in use), never that a second charge was made.
func TestStripeConcurrentRetries(t *testing.T) {
	eachStripe(t, 10*time.Second, func(t *testing.T, e *apitest.Env, fake *stripefake.Fake) {
		a := registerWithCard(t, e, "alice", "pm_card_visa")
		codes := e.Race(6, func(int) apitest.Request {
			return apitest.Request{Token: a.Token, Query: topUp, Variables: map[string]any{"amount": "30.00", "key": "double"}}
		})
		t.Logf("answers %v", codes)
		if codes[""] == 0 || codes[""]+codes["UNAVAILABLE"] != 6 {
			t.Fatalf("answers %v", codes)
		}
		var r topUpResult
		e.Query(a.Token, topUp, map[string]any{"amount": "30.00", "key": "double"}, &r)
		if b, n := balance(t, e, a.Token); b != "280.00" || n != 2 || len(fake.Charges()) != 2 {
			t.Fatalf("after %v: balance %s with %d transactions, %d charges at Stripe", codes, b, n, len(fake.Charges()))
		}
	})
}

// --- helpers ---

const settle = `mutation { settlePaymentAttempts { settled pending } }`

type topUpResult struct {
	TopUp struct {
		Transaction struct{ ID, Kind, Amount string }
		Reseller    struct{ Balance string }
	}
}

type refundResult struct {
	Refund struct {
		Transaction struct{ ID, Kind, Amount, BalanceAfter string }
		Invoice     struct{ Type, Total string }
	}
}

// eachStripe runs fn on SQLite and PostgreSQL against a fresh fake Stripe
// that posts its events to clnd's webhook route. timeout bounds each call
// to Stripe (a lost answer takes that long).
func eachStripe(t *testing.T, timeout time.Duration, fn func(*testing.T, *apitest.Env, *stripefake.Fake)) {
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			fake := stripefake.New(t)
			e := apitest.New(t, backend, apitest.WithConfig(func(c *server.Config) {
				c.Gateway = stripegw.New(stripegw.Config{SecretKey: fake.SecretKey, APIURL: fake.URL, Timeout: timeout})
				c.StripeWebhook = checkout.StripeParserFor(fake.WebhookSecret)
			}))
			fake.SendEventsTo(e.Server.URL + "/webhooks/payments/stripe")
			fn(t, e, fake)
		})
	}
}

// registerWithCard signs a reseller up with a Stripe PaymentMethod and a
// 250.00 deposit.
func registerWithCard(t *testing.T, e *apitest.Env, login, pm string) apitest.Reseller {
	t.Helper()
	in := apitest.RegistrationInput(login)
	in["paymentMethod"] = map[string]any{"gatewayToken": pm}
	var out struct {
		RegisterReseller struct {
			Token    string
			Reseller struct{ ID, Balance string }
		}
	}
	e.Query("", apitest.RegisterMutation, map[string]any{"input": in}, &out)
	if out.RegisterReseller.Reseller.Balance != "250.00" {
		t.Fatalf("registered with balance %s", out.RegisterReseller.Reseller.Balance)
	}
	return apitest.Reseller{ID: out.RegisterReseller.Reseller.ID, Login: login, Token: out.RegisterReseller.Token}
}

func addCardID(t *testing.T, e *apitest.Env, token, pm string) string {
	t.Helper()
	var out struct {
		AddPaymentMethod struct{ PaymentMethod struct{ ID string } }
	}
	e.Query(token, addCard, map[string]any{"tok": pm}, &out)
	return out.AddPaymentMethod.PaymentMethod.ID
}

type attempt struct {
	ID, Purpose, Status, Amount, DeclineCode, GatewayRef, Reason string
	Transaction                                                  *struct{ ID string }
}

func attempts(t *testing.T, e *apitest.Env, token string) []attempt {
	t.Helper()
	var out struct {
		Viewer struct {
			Reseller struct {
				PaymentAttempts struct{ Edges []struct{ Node attempt } }
			}
		}
	}
	e.Query(token, `{ viewer { reseller { paymentAttempts(first: 100) { edges { node {
		id purpose status amount declineCode gatewayRef reason transaction { id } } } } } } }`, nil, &out)
	var all []attempt
	for _, edge := range out.Viewer.Reseller.PaymentAttempts.Edges {
		all = append(all, edge.Node)
	}
	return all
}

func attemptByID(t *testing.T, e *apitest.Env, token, id string) attempt {
	t.Helper()
	for _, a := range attempts(t, e, token) {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("no payment attempt %q", id)
	return attempt{}
}

// attemptOf is the attempt that paid the transaction.
func attemptOf(t *testing.T, e *apitest.Env, token, transactionID string) attempt {
	t.Helper()
	for _, a := range attempts(t, e, token) {
		if a.Transaction != nil && a.Transaction.ID == transactionID && a.Purpose != "REFUND" {
			return a
		}
	}
	t.Fatalf("no payment attempt paid %q", transactionID)
	return attempt{}
}

func postStripe(t *testing.T, e *apitest.Env, body []byte, signature string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/webhooks/payments/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signStripe signs as Stripe does, with a secret of the test's choosing.
func signStripe(secret string, body []byte, at time.Time) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.%s", at.Unix(), body)
	return fmt.Sprintf("t=%d,v1=%s", at.Unix(), hex.EncodeToString(mac.Sum(nil)))
}
