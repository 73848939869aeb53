package paypal_test

import (
	"testing"
	"time"

	"clnd/internal/money"
	"clnd/internal/payments"
)

func TestRefundPartialFullAndOver(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")
	charge, err := p.Capture(ctx, o.ID, "pa_1")
	if err != nil {
		t.Fatal(err)
	}
	refund := func(key, amount string) (payments.Refund, error) {
		return p.Refund(ctx, payments.RefundRequest{Key: key, ChargeID: charge.ID, Amount: money.MustParse(amount), Reason: "seat removed"})
	}

	part, err := refund("re_1", "5.00")
	if err != nil || part.Amount != 500 || part.ID == "" {
		t.Fatalf("partial refund: %+v, %v", part, err)
	}
	// A retry of the same refund is the same refund, not a second one.
	again, err := refund("re_1", "5.00")
	if err != nil || again != part || len(f.Refunds()) != 1 {
		t.Fatalf("retried refund: %+v, %v; %d refunds", again, err, len(f.Refunds()))
	}

	_, err = refund("re_2", "7.35") // 7.34 remains
	wantFailure(t, err, payments.Rejected, "REFUND_AMOUNT_EXCEEDED")

	rest, err := refund("re_3", "0") // 0 refunds what remains
	if err != nil || rest.Amount != 734 {
		t.Fatalf("refund of the rest: %+v, %v", rest, err)
	}
	_, err = refund("re_4", "0.01")
	wantFailure(t, err, payments.Rejected, "CAPTURE_FULLY_REFUNDED")

	var total money.Cents
	for _, r := range f.Refunds() {
		total += r.Amount
	}
	if total != charge.Amount || len(f.Refunds()) != 2 {
		t.Fatalf("refunded %s in %d refunds, want %s in 2", total, len(f.Refunds()), charge.Amount)
	}
}

func TestRefundUnknownCaptureIsRejected(t *testing.T) {
	_, p := start(t)
	_, err := p.Refund(ctx, payments.RefundRequest{Key: "re_1", ChargeID: "0JF852973C016714D", Amount: 100})
	wantFailure(t, err, payments.Rejected, "")
}

func TestRefundErrorsThenRetryRefundsOnce(t *testing.T) {
	f, _ := start(t)
	p := providerFor(f, time.Second) // short: one call times out on purpose
	o := approved(t, f, p, "co_1", "12.34")
	charge, err := p.Capture(ctx, o.ID, "pa_1")
	if err != nil {
		t.Fatal(err)
	}
	f.FailNext(1, 503)
	_, err = p.Refund(ctx, payments.RefundRequest{Key: "re_1", ChargeID: charge.ID, Amount: 1000})
	wantUnknown(t, err)
	f.LoseResponses(1) // refunded at PayPal, the answer lost
	_, err = p.Refund(ctx, payments.RefundRequest{Key: "re_1", ChargeID: charge.ID, Amount: 1000})
	wantUnknown(t, err)
	r, err := p.Refund(ctx, payments.RefundRequest{Key: "re_1", ChargeID: charge.ID, Amount: 1000})
	if err != nil || r.Amount != 1000 || len(f.Refunds()) != 1 {
		t.Fatalf("retry: %+v, %v; %d refunds", r, err, len(f.Refunds()))
	}
}
