package stripegw_test

import (
	"context"
	"testing"

	"clnd/internal/payments"
)

func TestRefundsPartlyThenTheRestThenNoMore(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()
	ch, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 5000))
	if err != nil {
		t.Fatal(err)
	}

	part, err := gw.Refund(ctx, payments.RefundRequest{Key: "ref_1", ChargeID: ch.ID, Amount: 2000, Reason: "seats removed"})
	if err != nil || part.Amount != 2000 {
		t.Fatalf("partial refund = %+v, %v; want 2000", part, err)
	}
	again, err := gw.Refund(ctx, payments.RefundRequest{Key: "ref_1", ChargeID: ch.ID, Amount: 2000, Reason: "seats removed"})
	if err != nil || again != part {
		t.Fatalf("the same refund key again = %+v, %v; want %+v", again, err, part)
	}
	rest, err := gw.Refund(ctx, payments.RefundRequest{Key: "ref_2", ChargeID: ch.ID})
	if err != nil || rest.Amount != 3000 {
		t.Fatalf("refund of the rest = %+v, %v; want 3000", rest, err)
	}
	_, err = gw.Refund(ctx, payments.RefundRequest{Key: "ref_3", ChargeID: ch.ID, Amount: 1})
	if f, ok := payments.AsFailure(err); !ok || f.Outcome != payments.Rejected || f.Code != "charge_already_refunded" {
		t.Fatalf("refund of a refunded charge = %v, want Rejected charge_already_refunded", err)
	}

	refunds := fake.Refunds()
	if len(refunds) != 2 || refunds[0].ID != part.ID || refunds[1].ID != rest.ID {
		t.Fatalf("Stripe holds refunds %+v, want %s and %s", refunds, part.ID, rest.ID)
	}
	if r := refunds[0]; r.IdempotencyKey != "ref_1" || r.PaymentIntentID != ch.ID ||
		r.Metadata["refund_attempt_id"] != "ref_1" || r.Metadata["reason"] != "seats removed" {
		t.Errorf("first refund = %+v", r)
	}
	if c := fake.Charges()[0]; c.AmountRefunded != 5000 {
		t.Errorf("charge refunded %d, want 5000", c.AmountRefunded)
	}
}

func TestRefundingMoreThanIsLeftIsRejected(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()
	ch, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 5000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Refund(ctx, payments.RefundRequest{Key: "ref_1", ChargeID: ch.ID, Amount: 4000}); err != nil {
		t.Fatal(err)
	}
	_, err = gw.Refund(ctx, payments.RefundRequest{Key: "ref_2", ChargeID: ch.ID, Amount: 1500})
	if f, ok := payments.AsFailure(err); !ok || f.Outcome != payments.Rejected || f.Code != "amount_too_large" {
		t.Fatalf("over-refund = %v, want Rejected amount_too_large", err)
	}
	if n := len(fake.Refunds()); n != 1 {
		t.Errorf("%d refunds, want 1", n)
	}
}

func TestRefundOfAnUnknownChargeIsRejected(t *testing.T) {
	gw, _ := newGateway(t)
	_, err := gw.Refund(context.Background(), payments.RefundRequest{Key: "ref_1", ChargeID: "pi_nope", Amount: 100})
	if f, ok := payments.AsFailure(err); !ok || f.Outcome != payments.Rejected || f.Code != "resource_missing" {
		t.Fatalf("refund of pi_nope = %v, want Rejected resource_missing", err)
	}
}

func TestARefundDuringAnOutageIsSettledByAskingAgain(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	ctx := context.Background()
	ch, err := gw.Charge(ctx, chargeRequest(card, "pat_1", 5000))
	if err != nil {
		t.Fatal(err)
	}
	fake.FailNext(1, 503)
	_, err = gw.Refund(ctx, payments.RefundRequest{Key: "ref_1", ChargeID: ch.ID, Amount: 1000})
	if _, ok := payments.AsFailure(err); err == nil || ok {
		t.Fatalf("refund during an outage = %v, want a plain error", err)
	}
	if _, err := gw.Refund(ctx, payments.RefundRequest{Key: "ref_1", ChargeID: ch.ID, Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Refunds()); n != 1 {
		t.Errorf("%d refunds, want 1", n)
	}
}
