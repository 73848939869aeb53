package stripegw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"clnd/internal/payments"
	"clnd/internal/payments/stripefake"
	"clnd/internal/payments/stripegw"
)

// lastEvent is the newest event of type typ the fake raised.
func lastEvent(t *testing.T, fake *stripefake.Fake, typ string) []byte {
	t.Helper()
	events := fake.Events()
	for i := len(events) - 1; i >= 0; i-- {
		var e struct{ Type string }
		if err := json.Unmarshal(events[i], &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == typ {
			return events[i]
		}
	}
	t.Fatalf("the fake raised no %s", typ)
	return nil
}

func parse(t *testing.T, fake *stripefake.Fake, body []byte) stripegw.Event {
	t.Helper()
	ev, err := stripegw.ParseWebhook(body, fake.SignedHeader(body), fake.WebhookSecret)
	if err != nil {
		t.Fatalf("ParseWebhook: %v", err)
	}
	return ev
}

func TestWebhookEventsOfAPaymentsLife(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()
	ch, err := gw.Charge(ctx, payments.ChargeRequest{Key: "pat_1", MethodRef: card.Ref, CustomerRef: card.CustomerRef, Amount: 5000})
	if err != nil {
		t.Fatal(err)
	}

	paid := parse(t, fake, lastEvent(t, fake, stripegw.EventPaymentSucceeded))
	if paid.Type != stripegw.EventPaymentSucceeded || paid.PaymentIntentID != ch.ID || paid.AttemptID != "pat_1" ||
		paid.Amount != 5000 || paid.ChargeID == "" || paid.ID == "" || time.Since(paid.Created) > time.Minute {
		t.Errorf("payment_intent.succeeded = %+v", paid)
	}

	if _, err := gw.Refund(ctx, payments.RefundRequest{Key: "ref_1", ChargeID: ch.ID, Amount: 1500}); err != nil {
		t.Fatal(err)
	}
	refunded := parse(t, fake, lastEvent(t, fake, stripegw.EventChargeRefunded))
	if refunded.PaymentIntentID != ch.ID || refunded.ChargeID != paid.ChargeID || refunded.AttemptID != "pat_1" ||
		refunded.Amount != 5000 || refunded.AmountRefunded != 1500 {
		t.Errorf("charge.refunded = %+v", refunded)
	}

	if _, err := fake.Dispute(ch.ID, "fraudulent"); err != nil {
		t.Fatal(err)
	}
	disputed := parse(t, fake, lastEvent(t, fake, stripegw.EventDisputeCreated))
	if disputed.PaymentIntentID != ch.ID || disputed.ChargeID != paid.ChargeID || disputed.DisputeID == "" ||
		disputed.DisputeReason != "fraudulent" || disputed.DisputeAmount != 5000 {
		t.Errorf("charge.dispute.created = %+v", disputed)
	}
}

func TestWebhookOfADeclineCarriesTheDeclineCode(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_chargeDeclinedInsufficientFunds")
	_, err := gw.Charge(context.Background(), payments.ChargeRequest{Key: "pat_1", MethodRef: card.Ref, CustomerRef: card.CustomerRef, Amount: 5000})
	f, _ := payments.AsFailure(err)
	failed := parse(t, fake, lastEvent(t, fake, stripegw.EventPaymentFailed))
	if f == nil || failed.PaymentIntentID != f.Ref || failed.AttemptID != "pat_1" ||
		failed.DeclineCode != "insufficient_funds" || failed.FailureMessage == "" {
		t.Errorf("payment_intent.payment_failed = %+v after %v", failed, err)
	}
}

func TestWebhooksThatMustBeIgnored(t *testing.T) {
	fake := stripefake.New(t)
	body := fake.Event(stripegw.EventPaymentSucceeded, map[string]any{
		"id": "pi_1", "object": "payment_intent", "amount": 5000, "metadata": map[string]string{"attempt_id": "pat_1"},
	})
	other := stripefake.New(t) // another account's endpoint secret
	for name, c := range map[string]struct {
		body   []byte
		header string
		want   error
	}{
		"unsigned":              {body, "", webhook.ErrNotSigned},
		"forged":                {body, other.SignedHeader(body), webhook.ErrNoValidSignature},
		"tampered":              {bytes.Replace(body, []byte("5000"), []byte("9000"), 1), fake.SignedHeader(body), webhook.ErrNoValidSignature},
		"replayed after 10 min": {body, fake.SignedHeaderAt(body, time.Now().Add(-10*time.Minute)), webhook.ErrTooOld},
		"garbled header":        {body, "v1=zz,t", webhook.ErrInvalidHeader},
		"signed with no scheme": {body, "t=1", webhook.ErrNoValidSignature},
	} {
		if _, err := stripegw.ParseWebhook(c.body, c.header, fake.WebhookSecret); !errors.Is(err, c.want) {
			t.Errorf("%s: ParseWebhook = %v, want %v", name, err, c.want)
		}
	}
	// Within the tolerance a delivery is accepted again: Stripe retries
	// deliveries, so acting once per event ID is the caller's part.
	recent := fake.SignedHeaderAt(body, time.Now().Add(-4*time.Minute))
	first, err1 := stripegw.ParseWebhook(body, recent, fake.WebhookSecret)
	second, err2 := stripegw.ParseWebhook(body, fake.SignedHeader(body), fake.WebhookSecret)
	if err1 != nil || err2 != nil || first.ID != second.ID || first.AttemptID != "pat_1" {
		t.Errorf("redelivery = %+v %v / %+v %v, want the same event twice", first, err1, second, err2)
	}
}

func TestWebhookOfAnotherTypeOrAPIVersionParses(t *testing.T) {
	fake := stripefake.New(t)
	body := fake.Event("customer.created", map[string]any{"id": "cus_1", "object": "customer"})
	ev := parse(t, fake, body)
	if ev.Type != "customer.created" || ev.ID == "" || ev.PaymentIntentID != "" || ev.Amount != 0 {
		t.Errorf("customer.created = %+v, want only ID and Type", ev)
	}

	// An endpoint created years ago keeps its API version.
	var old map[string]any
	json.Unmarshal(fake.Event(stripegw.EventPaymentSucceeded, map[string]any{"id": "pi_1", "amount": 700}), &old)
	old["api_version"] = "2020-08-27"
	body, _ = json.Marshal(old)
	if ev := parse(t, fake, body); ev.PaymentIntentID != "pi_1" || ev.Amount != 700 {
		t.Errorf("event of API version 2020-08-27 = %+v", ev)
	}
}

// Stripe delivers in no set order: two refunds' events arriving newest
// first still each say the charge's refunded total, so the larger total
// wins whatever the order.
func TestWebhooksOutOfOrderCarryTotals(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()
	ch, err := gw.Charge(ctx, payments.ChargeRequest{Key: "pat_1", MethodRef: card.Ref, CustomerRef: card.CustomerRef, Amount: 5000})
	if err != nil {
		t.Fatal(err)
	}
	gw.Refund(ctx, payments.RefundRequest{Key: "ref_1", ChargeID: ch.ID, Amount: 1000})
	first := lastEvent(t, fake, stripegw.EventChargeRefunded)
	gw.Refund(ctx, payments.RefundRequest{Key: "ref_2", ChargeID: ch.ID, Amount: 2500})
	second := lastEvent(t, fake, stripegw.EventChargeRefunded)

	late, early := parse(t, fake, second), parse(t, fake, first)
	if late.ID == early.ID || late.AmountRefunded != 3500 || early.AmountRefunded != 1000 {
		t.Errorf("events = %+v then %+v, want totals 3500 then 1000", late, early)
	}
}
