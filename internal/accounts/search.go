package accounts

import (
	"strings"

	"clnd/ent/predicate"
	"clnd/ent/reseller"
)

// SearchResellers matches login, company or billing email (any case).
func SearchResellers(term string) predicate.Reseller {
	term = strings.TrimSpace(term)
	return reseller.Or(
		reseller.LoginContainsFold(term),
		reseller.CompanyContainsFold(term),
		reseller.BillingEmailContainsFold(term),
	)
}
