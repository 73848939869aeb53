// Package autopay decides when and how much to charge a reseller's default
// payment method automatically after a debit.
package autopay

import "clnd/internal/money"

var (
	// AddFundsThreshold: AUTO_ADD_FUNDS charges when the balance falls below it.
	AddFundsThreshold = money.MustParse("100.00")
	// MinimumRepay: AUTO_REPAY never charges less than this.
	MinimumRepay = money.MustParse("20.00")
)
