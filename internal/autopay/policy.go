// Package autopay decides when and how much to charge a reseller's default
// payment method automatically after a debit. The rule lives here alone;
// internal/accounts applies it.
package autopay

import "clnd/internal/money"

// Mode is a reseller's autopayment setting.
type Mode string

const (
	AddFunds Mode = "AUTO_ADD_FUNDS"
	Repay    Mode = "AUTO_REPAY"
	None     Mode = "NONE"
)

var (
	// AddFundsThreshold: AUTO_ADD_FUNDS charges when the balance falls below it.
	AddFundsThreshold = money.MustParse("100.00")
	// MinimumRepay: AUTO_REPAY never charges less than this.
	MinimumRepay = money.MustParse("20.00")
)

// Due is what autopayment charges for a balance, zero when nothing:
// AUTO_REPAY below zero charges max(−balance, 20.00); AUTO_ADD_FUNDS below
// 100.00 charges up to the target; NONE never charges.
func Due(mode Mode, balance, target money.Cents) money.Cents {
	switch mode {
	case Repay:
		if balance < 0 {
			return max(-balance, MinimumRepay)
		}
	case AddFunds:
		if balance < AddFundsThreshold && target > balance {
			return target - balance
		}
	}
	return 0
}
