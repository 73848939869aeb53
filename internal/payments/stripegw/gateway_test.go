package stripegw_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"clnd/internal/apperr"
	"clnd/internal/payments"
	"clnd/internal/payments/stripefake"
	"clnd/internal/payments/stripegw"
)

// newGateway starts a fake Stripe and a gateway whose stripe-go client is
// pointed at it through its backend URL.
func newGateway(t *testing.T, tune ...func(*stripegw.Config)) (*stripegw.Gateway, *stripefake.Fake) {
	t.Helper()
	fake := stripefake.New(t)
	cfg := stripegw.Config{SecretKey: fake.SecretKey, APIURL: fake.URL, Timeout: 5 * time.Second}
	for _, f := range tune {
		f(&cfg)
	}
	return stripegw.New(cfg), fake
}

// saveCard saves a Stripe test method for a new customer.
func saveCard(t *testing.T, gw *stripegw.Gateway, token string) payments.SavedMethod {
	t.Helper()
	m, err := gw.Save(context.Background(), payments.MethodRequest{
		Token: token, ResellerID: "res_1", Email: "ops@acme.test", Name: "Acme",
	})
	if err != nil {
		t.Fatalf("Save(%s): %v", token, err)
	}
	return m
}

func TestSaveCreatesTheCustomerOnceAndAttachesEachCard(t *testing.T) {
	gw, fake := newGateway(t)
	ctx := context.Background()

	visa := saveCard(t, gw, "pm_card_visa")
	if visa.Kind != payments.Card || visa.Label != "Visa •••• 4242" {
		t.Errorf("saved %+v, want a card labelled Visa •••• 4242", visa)
	}
	if !strings.HasPrefix(visa.Ref, "pm_") || visa.Ref == "pm_card_visa" {
		t.Errorf("Ref = %q, want the attached PaymentMethod's own ID", visa.Ref)
	}
	customers := fake.Customers()
	if len(customers) != 1 || customers[0].ID != visa.CustomerRef {
		t.Fatalf("customers = %+v, want one, %s", customers, visa.CustomerRef)
	}
	if c := customers[0]; c.Email != "ops@acme.test" || c.Name != "Acme" || c.Metadata["reseller_id"] != "res_1" {
		t.Errorf("customer = %+v, want the reseller's email, name and ID", c)
	}

	mc, err := gw.Save(ctx, payments.MethodRequest{Token: "pm_card_mastercard", CustomerRef: visa.CustomerRef})
	if err != nil {
		t.Fatal(err)
	}
	if mc.CustomerRef != visa.CustomerRef || mc.Label != "Mastercard •••• 4444" {
		t.Errorf("second card = %+v, want Mastercard •••• 4444 on %s", mc, visa.CustomerRef)
	}
	if n := len(fake.Customers()); n != 1 {
		t.Errorf("%d customers after the second card, want 1", n)
	}
}

func TestSaveRefusesAnUnknownTokenWithoutCreatingACustomer(t *testing.T) {
	gw, fake := newGateway(t)
	for _, token := range []string{"pm_doesNotExist", "tok_visa", ""} {
		_, err := gw.Save(context.Background(), payments.MethodRequest{Token: token, Email: "a@b.test"})
		e, ok := apperr.As(err)
		if !ok || e.Code != apperr.BadUserInput || e.Field != "gatewayToken" {
			t.Errorf("Save(%q) = %v, want BAD_USER_INPUT on gatewayToken", token, err)
		}
	}
	if n := len(fake.Customers()); n != 0 {
		t.Errorf("%d customers created for bad tokens, want 0", n)
	}
}

func TestChargeTakesTheAmountOffSession(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")

	ch, err := gw.Charge(context.Background(), payments.ChargeRequest{
		Key: "pat_1", MethodRef: card.Ref, CustomerRef: card.CustomerRef,
		Amount: 2500, Description: "Top-up", ResellerID: "res_1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.ID, "pi_") || ch.Amount != 2500 {
		t.Errorf("charge = %+v, want a PaymentIntent for 2500", ch)
	}
	charges := fake.Charges()
	if len(charges) != 1 {
		t.Fatalf("fake charged %d times, want 1", len(charges))
	}
	got := charges[0]
	if got.PaymentIntentID != ch.ID || got.IdempotencyKey != "pat_1" || got.Amount != 2500 ||
		got.Customer != card.CustomerRef || got.PaymentMethod != card.Ref ||
		got.Metadata["attempt_id"] != "pat_1" || got.Metadata["reseller_id"] != "res_1" {
		t.Errorf("Stripe saw %+v", got)
	}
}

func TestChargeDeclinesCarryStripesDeclineCode(t *testing.T) {
	for token, code := range map[string]string{
		"pm_card_chargeDeclined":                  "generic_decline",
		"pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
		"pm_card_chargeDeclinedExpiredCard":       "expired_card",
	} {
		t.Run(token, func(t *testing.T) {
			gw, fake := newGateway(t)
			card := saveCard(t, gw, token)
			_, err := gw.Charge(context.Background(), payments.ChargeRequest{
				Key: "pat_1", MethodRef: card.Ref, CustomerRef: card.CustomerRef, Amount: 2500,
			})
			f, ok := payments.AsFailure(err)
			if !ok || f.Outcome != payments.Declined || f.Code != code || f.Message == "" || !strings.HasPrefix(f.Ref, "pi_") {
				t.Fatalf("Charge = %#v, want a Declined failure %s on the PaymentIntent", err, code)
			}
			if n := len(fake.Charges()); n != 0 {
				t.Errorf("fake charged %d times, want 0", n)
			}
		})
	}
}

func TestChargeNeedingThreeDSecureAnswersTheClientSecret(t *testing.T) {
	gw, fake := newGateway(t)
	card := saveCard(t, gw, "pm_card_authenticationRequired")
	_, err := gw.Charge(context.Background(), payments.ChargeRequest{
		Key: "pat_1", MethodRef: card.Ref, CustomerRef: card.CustomerRef, Amount: 2500,
	})
	f, ok := payments.AsFailure(err)
	if !ok || f.Outcome != payments.ActionRequired || f.Code != "authentication_required" {
		t.Fatalf("Charge = %#v, want ActionRequired authentication_required", err)
	}
	if !strings.HasPrefix(f.Ref, "pi_") || !strings.HasPrefix(f.ClientSecret, f.Ref+"_secret_") {
		t.Errorf("failure = %+v, want the PaymentIntent and its client secret", f)
	}
	if n := len(fake.Charges()); n != 0 {
		t.Errorf("fake charged %d times, want 0", n)
	}
}

func TestChargeBelowStripesMinimumIsRejected(t *testing.T) {
	gw, _ := newGateway(t)
	card := saveCard(t, gw, "pm_card_visa")
	_, err := gw.Charge(context.Background(), payments.ChargeRequest{
		Key: "pat_1", MethodRef: card.Ref, CustomerRef: card.CustomerRef, Amount: 10,
	})
	if f, ok := payments.AsFailure(err); !ok || f.Outcome != payments.Rejected || f.Code != "amount_too_small" {
		t.Fatalf("Charge = %v, want Rejected amount_too_small", err)
	}
}

func TestChargeWithoutAKeyIsRefusedBeforeStripe(t *testing.T) {
	gw, fake := newGateway(t)
	_, err := gw.Charge(context.Background(), payments.ChargeRequest{MethodRef: "pm_card_visa", Amount: 2500})
	if err == nil || fake.Requests() != 0 {
		t.Fatalf("Charge without key = %v after %d requests, want an error and none", err, fake.Requests())
	}
}

func TestAWrongSecretKeyIsNotAPaymentFailure(t *testing.T) {
	gw, _ := newGateway(t, func(c *stripegw.Config) { c.SecretKey = "sk_test_wrong" })
	_, err := gw.Charge(context.Background(), payments.ChargeRequest{Key: "pat_1", MethodRef: "pm_card_visa", Amount: 2500})
	if _, ok := payments.AsFailure(err); err == nil || ok {
		t.Fatalf("Charge with a bad key = %v, want a plain error (clnd's setup, not the card)", err)
	}
}

// A CustomerRef Stripe does not know (say, a test-mode customer under a
// live key) is clnd's problem, not the user's token or card.
func TestSaveOnAnUnknownCustomerIsAPlainError(t *testing.T) {
	gw, _ := newGateway(t)
	_, err := gw.Save(context.Background(), payments.MethodRequest{Token: "pm_card_visa", CustomerRef: "cus_nope"})
	_, isInput := apperr.As(err)
	_, isFailure := payments.AsFailure(err)
	if err == nil || isInput || isFailure {
		t.Fatalf("Save on cus_nope = %#v, want a plain error", err)
	}
}
