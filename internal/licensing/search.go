package licensing

import (
	"strings"

	"clnd/ent/iplicense"
	"clnd/ent/predicate"
	"clnd/ent/serveraccount"
)

// SearchIPLicenses matches an IP prefix or a hostname substring (any case).
func SearchIPLicenses(term string) predicate.IPLicense {
	term = strings.TrimSpace(term)
	return iplicense.Or(
		iplicense.IPHasPrefix(strings.ToLower(term)),
		iplicense.HostnameContainsFold(term),
	)
}

// SearchServerAccounts matches login, names, company or email (any case).
func SearchServerAccounts(term string) predicate.ServerAccount {
	term = strings.TrimSpace(term)
	return serveraccount.Or(
		serveraccount.LoginContainsFold(term),
		serveraccount.FirstNameContainsFold(term),
		serveraccount.LastNameContainsFold(term),
		serveraccount.CompanyContainsFold(term),
		serveraccount.EmailContainsFold(term),
	)
}
