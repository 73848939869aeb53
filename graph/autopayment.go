package graph

import (
	"clnd/ent"
	"clnd/ent/reseller"
	"clnd/graph/model"
	"clnd/internal/autopay"
)

// autopaymentOf shows a reseller's autopayment setting with the amounts
// that apply to its mode.
func autopaymentOf(r *ent.Reseller) *model.Autopayment {
	a := &model.Autopayment{Mode: r.AutopayMode}
	switch r.AutopayMode {
	case reseller.AutopayModeAUTO_ADD_FUNDS:
		threshold := autopay.AddFundsThreshold
		a.Threshold = &threshold
		a.TargetAmount = r.AutopayTarget
	case reseller.AutopayModeAUTO_REPAY:
		minimum := autopay.MinimumRepay
		a.MinimumCharge = &minimum
	}
	return a
}
