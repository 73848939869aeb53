package paypal

import (
	"errors"
	"net/http"

	"clnd/internal/payments"
)

// Issues (error_details.issue) that mean the payer's funding was refused.
// The rest of PayPal's 422 issues are business-rule refusals (Rejected).
var declinedIssues = map[string]bool{
	"INSTRUMENT_DECLINED":                     true,
	"TRANSACTION_REFUSED":                     true,
	"PAYER_CANNOT_PAY":                        true,
	"PAYER_ACCOUNT_RESTRICTED":                true,
	"PAYER_ACCOUNT_LOCKED_OR_CLOSED":          true,
	"REDIRECT_PAYER_FOR_ALTERNATE_FUNDING":    true,
	"MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": true,
	"TRANSACTION_LIMIT_EXCEEDED":              true,
	"DECLINED_DUE_TO_RELATED_TXN":             true,
	"CARD_EXPIRED":                            true,
}

// Issues that mean the payer still has to act at PayPal.
var actionIssues = map[string]bool{
	"ORDER_NOT_APPROVED":    true,
	"PAYER_ACTION_REQUIRED": true,
}

// classify turns an error of call into the payments error rules: PayPal's
// definite refusals become a *payments.Failure about ref; a transport
// error, a timeout, 5xx, 429, 409 (a call with the same PayPal-Request-Id
// is still running) and ORDER_COMPLETION_IN_PROGRESS stay plain errors,
// because the money may still move and asking again settles it.
func classify(err error, ref string) error {
	var e *apiError
	if !errors.As(err, &e) {
		return err
	}
	issue := e.Issue()
	failure := func(o payments.Outcome) error {
		msg := e.Message
		if len(e.Details) > 0 && e.Details[0].Description != "" {
			msg = e.Details[0].Description
		}
		return &payments.Failure{Outcome: o, Code: issue, Message: msg, Ref: ref}
	}
	switch {
	case e.Status >= 500, e.Status == http.StatusTooManyRequests,
		e.Status == http.StatusConflict, e.Status == http.StatusRequestTimeout,
		// A bad or expired token: nothing was done, but nothing was refused either.
		e.Status == http.StatusUnauthorized,
		issue == "ORDER_COMPLETION_IN_PROGRESS":
		return err
	case actionIssues[issue]:
		return failure(payments.ActionRequired)
	case declinedIssues[issue]:
		return failure(payments.Declined)
	case e.Status >= 400:
		// 400 malformed, 403 not permitted, 404 unknown order or capture,
		// 422 business rules (refund above what remains, ...): PayPal
		// looked at the request and did nothing.
		return failure(payments.Rejected)
	}
	return err
}

// issueOf is the PayPal issue of err, "" when err is not PayPal's answer.
func issueOf(err error) string {
	var e *apiError
	if errors.As(err, &e) {
		return e.Issue()
	}
	return ""
}
