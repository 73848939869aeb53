package accounts

import (
	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/ent/reseller"
	"clnd/ent/serveraccount"
)

// LiveResellerWhere makes a resellers filter on their licenses or server
// accounts (hasIPLicenses, hasServerAccountsWith, ...) test live ones only,
// as every other read does (ent/schema.Removal): the generated edge
// predicates read the tables directly, past the interceptor that hides
// removed rows. Both read paths (the resolver and internal/sqlgraph) call it
// before filtering.
func LiveResellerWhere(w *ent.ResellerWhereInput) {
	if w == nil {
		return
	}
	if w.HasIPLicenses != nil {
		p := reseller.HasIPLicensesWith(iplicense.RemovedAtIsNil())
		if !*w.HasIPLicenses {
			p = reseller.Not(p)
		}
		w.HasIPLicenses = nil
		w.AddPredicates(p)
	}
	for _, sub := range w.HasIPLicensesWith {
		if sub != nil {
			sub.AddPredicates(iplicense.RemovedAtIsNil())
		}
	}
	if w.HasServerAccounts != nil {
		p := reseller.HasServerAccountsWith(serveraccount.RemovedAtIsNil())
		if !*w.HasServerAccounts {
			p = reseller.Not(p)
		}
		w.HasServerAccounts = nil
		w.AddPredicates(p)
	}
	for _, sub := range w.HasServerAccountsWith {
		if sub != nil {
			sub.AddPredicates(serveraccount.RemovedAtIsNil())
		}
	}
	LiveResellerWhere(w.Not)
	for _, sub := range w.And {
		LiveResellerWhere(sub)
	}
	for _, sub := range w.Or {
		LiveResellerWhere(sub)
	}
}
