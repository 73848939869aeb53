package paypal_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/payments/paypal"
)

func TestTokenFetchedOnceAndReused(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")
	create(t, p, "co_2", "1.00")
	if _, err := p.Capture(ctx, o.ID, "pa_1"); err != nil {
		t.Fatal(err)
	}
	if n := f.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for three calls, want 1", n)
	}
}

// golang.org/x/oauth2 renews a token before it expires (10 s early), so a
// token PayPal would refuse as expired is never sent.
func TestExpiringTokenIsRenewed(t *testing.T) {
	f, p := start(t)
	f.SetTokenLifetime(11 * time.Second) // renewed after one second
	o := approved(t, f, p, "co_1", "12.34")
	time.Sleep(1100 * time.Millisecond)
	if _, err := p.Capture(ctx, o.ID, "pa_1"); err != nil {
		t.Fatal(err)
	}
	if n := f.TokenRequests(); n != 2 {
		t.Fatalf("%d token requests, want 2 (one renewal)", n)
	}
}

// A token PayPal refuses before its expiry is dropped: the call fails as an
// unknown outcome and asking again works with a new token.
func TestRevokedTokenIsReplaced(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")
	f.RevokeTokens()
	_, err := p.Capture(ctx, o.ID, "pa_1")
	wantUnknown(t, err)
	if _, err := p.Capture(ctx, o.ID, "pa_1"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := f.TokenRequests(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestWrongCredentialsAreNotAFailure(t *testing.T) {
	f, _ := start(t)
	p := paypal.New(paypal.Config{ClientID: f.ClientID, ClientSecret: "wrong", APIURL: f.URL, Timeout: time.Second})
	_, err := p.Create(ctx, orderRequest("co_1", "5.00"))
	wantUnknown(t, err)
	if len(f.Orders()) != 0 || f.APICalls() != 0 {
		t.Fatal("an API call went out without a token")
	}
}

func TestCreateAnswersTheApproveLink(t *testing.T) {
	f, p := start(t)
	o := create(t, p, "co_1", "12.34")
	if !strings.HasPrefix(o.ApproveURL, f.URL+"/checkoutnow?token=") || !strings.HasSuffix(o.ApproveURL, o.ID) {
		t.Fatalf("approve link %q for order %s", o.ApproveURL, o.ID)
	}
	orders := f.Orders()
	if len(orders) != 1 || orders[0].ReferenceID != "co_1" || orders[0].Amount != 1234 || orders[0].Status != "PAYER_ACTION_REQUIRED" {
		t.Fatalf("orders at PayPal: %+v", orders)
	}

	// Asking again with the same key (a retry after a timeout) is the same order.
	again := create(t, p, "co_1", "12.34")
	if again != o || len(f.Orders()) != 1 {
		t.Fatalf("retry answered %+v, first %+v; %d orders", again, o, len(f.Orders()))
	}
}

func TestCreateRefusesNonPositiveAmounts(t *testing.T) {
	f, p := start(t)
	for _, amount := range []money.Cents{0, -100} {
		r := orderRequest("co_1", "1.00")
		r.Amount = amount
		_, err := p.Create(ctx, r)
		wantFailure(t, err, payments.Rejected, "INVALID_AMOUNT")
	}
	if f.APICalls() != 0 {
		t.Fatal("a non-positive amount reached PayPal")
	}
}

func TestCaptureBeforeApprovalNeedsThePayer(t *testing.T) {
	f, p := start(t)
	o := create(t, p, "co_1", "12.34")
	_, err := p.Capture(ctx, o.ID, "pa_1")
	wantFailure(t, err, payments.ActionRequired, "ORDER_NOT_APPROVED")
	if len(f.Captures()) != 0 {
		t.Fatal("captured an unapproved order")
	}
}

func TestPayerApprovesThenReturnCaptures(t *testing.T) {
	f, p := start(t)
	o := create(t, p, "co_1", "12.34")

	// The payer's browser: approve link → PayPal → back to clnd's return page.
	back := follow(t, o.ApproveURL)
	if back.Host != "clnd.example" || back.Path != "/checkout/co_1/return" ||
		back.Query().Get("token") != o.ID || back.Query().Get("PayerID") == "" {
		t.Fatalf("payer sent back to %s", back)
	}

	charge, err := p.Capture(ctx, back.Query().Get("token"), "pa_1")
	if err != nil {
		t.Fatal(err)
	}
	caps := f.Captures()
	if len(caps) != 1 || charge.ID != caps[0].ID || charge.Amount != 1234 || caps[0].RequestID != "pa_1" || caps[0].OrderID != o.ID {
		t.Fatalf("charge %+v, captures at PayPal %+v", charge, caps)
	}
}

func TestPayerCancels(t *testing.T) {
	f, p := start(t)
	o := create(t, p, "co_1", "12.34")
	back := follow(t, f.CancelLink(o.ID))
	if back.Path != "/checkout/co_1/cancel" || back.Query().Get("token") != o.ID || back.Query().Get("from") != "paypal" {
		t.Fatalf("payer sent back to %s", back)
	}
	_, err := p.Capture(ctx, o.ID, "pa_1")
	wantFailure(t, err, payments.ActionRequired, "ORDER_NOT_APPROVED")
}

// The return page and the two webhooks each capture with their own key:
// PayPal captures once, and every caller is answered that one capture.
func TestCapturesRacingAnswerOneCapture(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")

	keys := []string{"return", "webhook-approved", "webhook-completed", "return-reload"}
	charges := make([]payments.Charge, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			charges[i], errs[i] = p.Capture(ctx, o.ID, key)
		}()
	}
	wg.Wait()
	caps := f.Captures()
	if len(caps) != 1 {
		t.Fatalf("%d captures at PayPal, want 1", len(caps))
	}
	for i := range keys {
		if errs[i] != nil || charges[i] != (payments.Charge{ID: caps[0].ID, Amount: 1234}) {
			t.Fatalf("%s: %+v, %v; want capture %s", keys[i], charges[i], errs[i], caps[0].ID)
		}
	}
}

func TestCaptureTwiceAnswersTheSameCapture(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")
	first, err := p.Capture(ctx, o.ID, "pa_1")
	if err != nil {
		t.Fatal(err)
	}
	// Same key: PayPal replays its answer. Other key: ORDER_ALREADY_CAPTURED, read back.
	for _, key := range []string{"pa_1", "pa_2"} {
		again, err := p.Capture(ctx, o.ID, key)
		if err != nil || again != first {
			t.Fatalf("capture again with %s: %+v, %v; first %+v", key, again, err, first)
		}
	}
	if n := len(f.Captures()); n != 1 {
		t.Fatalf("%d captures, want 1", n)
	}
}

func TestLostResponseThenRetryCapturesOnce(t *testing.T) {
	f, _ := start(t)
	p := providerFor(f, time.Second) // short: one call times out on purpose
	o := approved(t, f, p, "co_1", "12.34")

	f.LoseResponses(1)
	_, err := p.Capture(ctx, o.ID, "pa_1")
	wantUnknown(t, err)
	if len(f.Captures()) != 1 {
		t.Fatal("the fake should have captured before losing the answer")
	}

	charge, err := p.Capture(ctx, o.ID, "pa_1")
	caps := f.Captures()
	if err != nil || len(caps) != 1 || charge.ID != caps[0].ID {
		t.Fatalf("retry: %+v, %v; captures %+v", charge, err, caps)
	}
}

func TestServerErrorsAreUnknownOutcomes(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f, p := start(t)
			o := approved(t, f, p, "co_1", "12.34")
			f.FailNext(1, status)
			_, err := p.Capture(ctx, o.ID, "pa_1")
			wantUnknown(t, err)
			if _, err := p.Capture(ctx, o.ID, "pa_1"); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if len(f.Captures()) != 1 {
				t.Fatal("want one capture")
			}
		})
	}
}

func TestInstrumentDeclined(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")
	f.DeclineNext()
	_, err := p.Capture(ctx, o.ID, "pa_1")
	wantFailure(t, err, payments.Declined, "INSTRUMENT_DECLINED")
	if len(f.Captures()) != 0 {
		t.Fatal("a declined capture took money")
	}
	// The payer picks another funding source; a new attempt captures.
	if _, err := p.Capture(ctx, o.ID, "pa_2"); err != nil {
		t.Fatal(err)
	}
}

func TestDeclinedCaptureStatus(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")
	f.DenyNextCapture()
	_, err := p.Capture(ctx, o.ID, "pa_1")
	wantFailure(t, err, payments.Declined, "DECLINED")
	// The order is done at PayPal: asking again reads the same declined capture.
	_, err = p.Capture(ctx, o.ID, "pa_2")
	wantFailure(t, err, payments.Declined, "DECLINED")
}

func TestCaptureUnknownOrderIsRejected(t *testing.T) {
	_, p := start(t)
	_, err := p.Capture(ctx, "5O190127TN364715T", "pa_1")
	wantFailure(t, err, payments.Rejected, "")
}

func TestPendingCaptureIsNoMoneyYet(t *testing.T) {
	f, p := start(t)
	o := approved(t, f, p, "co_1", "12.34")
	f.PendNextCapture()
	for _, key := range []string{"pa_1", "pa_2"} {
		_, err := p.Capture(ctx, o.ID, key)
		wantUnknown(t, err)
		if !errors.Is(err, paypal.ErrCapturePending) {
			t.Fatalf("capture with %s: %v, want ErrCapturePending", key, err)
		}
	}
	// PayPal settles it (PAYMENT.CAPTURE.COMPLETED follows); asking again answers the capture.
	caps := f.Captures()
	if err := f.CompletePending(caps[0].ID); err != nil {
		t.Fatal(err)
	}
	charge, err := p.Capture(ctx, o.ID, "pa_3")
	if err != nil || charge.ID != caps[0].ID || charge.Amount != 1234 {
		t.Fatalf("after settling: %+v, %v", charge, err)
	}
}
