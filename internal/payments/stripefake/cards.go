package stripefake

// card is what a Stripe test PaymentMethod does when it is charged.
type card struct {
	Brand, Last4 string
	// Code and DeclineCode are the card_error a charge fails with ("" when
	// the charge succeeds).
	Code, DeclineCode, Message string
	// Authenticate: every payment needs 3-D Secure, so an off-session
	// charge fails with authentication_required.
	Authenticate bool
}

// testCards are the PaymentMethods Stripe offers in test mode
// (https://docs.stripe.com/testing), by the IDs a client may pass.
var testCards = map[string]card{
	"pm_card_visa":       {Brand: "visa", Last4: "4242"},
	"pm_card_mastercard": {Brand: "mastercard", Last4: "4444"},
	"pm_card_amex":       {Brand: "amex", Last4: "8431"},
	"pm_card_chargeDeclined": {Brand: "visa", Last4: "0002",
		Code: "card_declined", DeclineCode: "generic_decline", Message: "Your card was declined."},
	"pm_card_chargeDeclinedInsufficientFunds": {Brand: "visa", Last4: "9995",
		Code: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card has insufficient funds."},
	"pm_card_chargeDeclinedExpiredCard": {Brand: "visa", Last4: "0069",
		Code: "expired_card", DeclineCode: "expired_card", Message: "Your card has expired."},
	"pm_card_authenticationRequired": {Brand: "visa", Last4: "3184", Authenticate: true},
}
