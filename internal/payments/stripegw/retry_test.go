package stripegw_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/payments/stripegw"
)

// The gateway's promise: an error that is not a *payments.Failure leaves
// the outcome unknown, and asking again with the same key settles it
// without charging twice.

func chargeRequest(card payments.SavedMethod, key string, amount money.Cents) payments.ChargeRequest {
	return payments.ChargeRequest{Key: key, MethodRef: card.Ref, CustomerRef: card.CustomerRef, Amount: amount}
}

func TestTheSameKeyIsTheSameCharge(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()

	first, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	if err != nil {
		t.Fatal(err)
	}
	again, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	if err != nil || again != first {
		t.Fatalf("retry = %+v, %v; want %+v", again, err, first)
	}
	if n := len(fake.Charges()); n != 1 {
		t.Fatalf("fake charged %d times for one key, want 1", n)
	}
	if _, err := gw.Charge(ctx, chargeRequest(card, "pat_2", 2500)); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Charges()); n != 2 {
		t.Errorf("fake charged %d times for two keys, want 2", n)
	}
}

func TestTheSameKeyRepeatsADecline(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_chargeDeclinedInsufficientFunds")
	ctx := context.Background()
	_, err1 := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	_, err2 := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	f1, ok1 := payments.AsFailure(err1)
	f2, ok2 := payments.AsFailure(err2)
	if !ok1 || !ok2 || *f1 != *f2 {
		t.Fatalf("decline then retry = %v, %v; want the same Declined failure twice", err1, err2)
	}
	if n := len(fake.Charges()); n != 0 {
		t.Errorf("fake charged %d times, want 0", n)
	}
}

func TestAKeyReusedForAnotherAmountIsAnErrorNotAFailure(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()
	if _, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500)); err != nil {
		t.Fatal(err)
	}
	other := chargeRequest(card, "pat_1", 2500)
	other.Amount = 9900
	_, err := gw.Charge(ctx, other)
	if _, ok := payments.AsFailure(err); err == nil || ok || !strings.Contains(err.Error(), "idempotency") {
		t.Fatalf("Charge = %v, want a plain idempotency error", err)
	}
	if n := len(fake.Charges()); n != 1 {
		t.Errorf("fake charged %d times, want 1", n)
	}
}

func TestALostResponseIsSettledByAskingAgain(t *testing.T) {
	gw, fake := newGateway(t, func(c *stripegw.Config) { c.Timeout = 300 * time.Millisecond })
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()

	fake.LoseResponses(1)
	_, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	if _, ok := payments.AsFailure(err); err == nil || ok {
		t.Fatalf("Charge with a lost answer = %v, want a plain error (outcome unknown)", err)
	}
	if n := len(fake.Charges()); n != 1 {
		t.Fatalf("fake charged %d times, want 1: the charge happened, only the answer was lost", n)
	}
	ch, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	if err != nil {
		t.Fatal(err)
	}
	charges := fake.Charges()
	if len(charges) != 1 || charges[0].PaymentIntentID != ch.ID {
		t.Errorf("after the retry Stripe holds %+v, want only %s", charges, ch.ID)
	}
}

func TestACallerDeadlineIsSettledByAskingAgain(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")

	fake.LoseResponses(1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	if _, ok := payments.AsFailure(err); err == nil || ok {
		t.Fatalf("Charge past its deadline = %v, want a plain error", err)
	}
	ch, err := gw.Charge(context.Background(), chargeRequest(card, "pat_1", 2500))
	if err != nil {
		t.Fatal(err)
	}
	if charges := fake.Charges(); len(charges) != 1 || charges[0].PaymentIntentID != ch.ID {
		t.Errorf("Stripe holds %+v, want only %s", charges, ch.ID)
	}
}

// A connection closed without an answer may be resent by Go's transport
// itself (the request carries an Idempotency-Key); either way, once the
// caller has an answer for the key, Stripe holds one charge.
func TestADroppedConnectionNeverChargesTwice(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()

	fake.DropConnections(1)
	first, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	if _, ok := payments.AsFailure(err); ok {
		t.Fatalf("Charge on a dropped connection = %v, want success or a plain error", err)
	}
	ch, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
	if err != nil || (first.ID != "" && first != ch) {
		t.Fatalf("retry = %+v, %v after %+v", ch, err, first)
	}
	if charges := fake.Charges(); len(charges) != 1 || charges[0].PaymentIntentID != ch.ID {
		t.Errorf("Stripe holds %+v, want only %s", charges, ch.ID)
	}
}

func TestAnOutageIsNotAFailureAndTheRetryCharges(t *testing.T) {
	for _, status := range []int{500, 503, 429} {
		gw, fake := newGateway(t)
		card := saveCard(t, gw, "pm_card_visa")
		ctx := context.Background()

		fake.FailNext(1, status)
		_, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500))
		if _, ok := payments.AsFailure(err); err == nil || ok {
			t.Fatalf("Charge during HTTP %d = %v, want a plain error", status, err)
		}
		if n := len(fake.Charges()); n != 0 {
			t.Fatalf("HTTP %d charged %d times, want 0", status, n)
		}
		if _, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 2500)); err != nil {
			t.Fatalf("retry after HTTP %d: %v", status, err)
		}
		if n := len(fake.Charges()); n != 1 {
			t.Errorf("after HTTP %d and a retry: %d charges, want 1", status, n)
		}
	}
}

// With MaxNetworkRetries stripe-go asks again by itself, with the same
// Idempotency-Key: the caller sees one success and Stripe charged once.
func TestStripeGoRetriesALostResponseWithTheSameKey(t *testing.T) {
	gw, fake := newGateway(t, func(c *stripegw.Config) {
		c.MaxNetworkRetries = 1
		c.Timeout = 300 * time.Millisecond
	})
	card := saveCard(t, gw, "pm_card_visa")

	fake.LoseResponses(1)
	before := fake.Requests()
	ch, err := gw.Charge(context.Background(), chargeRequest(card, "pat_1", 2500))
	if err != nil {
		t.Fatal(err)
	}
	if n := fake.Requests() - before; n != 2 {
		t.Errorf("%d requests, want 2 (the lost one and stripe-go's retry)", n)
	}
	if charges := fake.Charges(); len(charges) != 1 || charges[0].PaymentIntentID != ch.ID {
		t.Errorf("Stripe holds %+v, want only %s", charges, ch.ID)
	}
}
