package stripegw

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/stripe/stripe-go/v82"

	"clnd/internal/payments"
)

// failure turns a Stripe error into payments' terms: a *payments.Failure
// only when Stripe answered that nothing moved (a card error, a refused
// request); a plain error when the outcome is unknown (network, timeout,
// 5xx, 429, 409, an idempotency conflict) or the fault is clnd's setup
// (401, 403), so that the caller asks again with the same key.
func failure(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe %s: outcome unknown: %w", op, err)
	}
	definite := se.HTTPStatusCode == http.StatusBadRequest ||
		se.HTTPStatusCode == http.StatusPaymentRequired ||
		se.HTTPStatusCode == http.StatusNotFound
	if !definite {
		return fmt.Errorf("stripe %s: outcome unknown (HTTP %d %s): %s",
			op, se.HTTPStatusCode, se.Type, se.Msg)
	}
	ref := ""
	if se.PaymentIntent != nil {
		ref = se.PaymentIntent.ID
	}
	switch se.Type {
	case stripe.ErrorTypeCard:
		if se.Code == stripe.ErrorCodeAuthenticationRequired ||
			se.DeclineCode == "authentication_required" {
			return actionRequired(se.PaymentIntent, se.Msg)
		}
		code := string(se.DeclineCode)
		if code == "" {
			code = string(se.Code)
		}
		return &payments.Failure{Outcome: payments.Declined, Code: code, Message: se.Msg, Ref: ref}
	case stripe.ErrorTypeInvalidRequest:
		code := string(se.Code)
		if code == "" {
			code = string(se.Type)
		}
		return &payments.Failure{Outcome: payments.Rejected, Code: code, Message: se.Msg, Ref: ref}
	case stripe.ErrorTypeIdempotency:
		// The key was used before with other parameters: a bug in the
		// caller, not an answer about money.
		return fmt.Errorf("stripe %s: idempotency key reused with other parameters: %s", op, se.Msg)
	}
	return fmt.Errorf("stripe %s: outcome unknown (HTTP %d %s): %s",
		op, se.HTTPStatusCode, se.Type, se.Msg)
}

// actionRequired is a payment the customer must authenticate (3-D Secure)
// on session: the dashboard finishes it with the client secret
// (stripe.confirmCardPayment) and nothing moved until then.
func actionRequired(pi *stripe.PaymentIntent, message string) *payments.Failure {
	if message == "" {
		message = "the card issuer requires the customer to authenticate this payment"
	}
	f := &payments.Failure{Outcome: payments.ActionRequired,
		Code: string(stripe.ErrorCodeAuthenticationRequired), Message: message}
	if pi != nil {
		f.Ref, f.ClientSecret = pi.ID, pi.ClientSecret
	}
	return f
}
