package graph

import (
	"context"

	"clnd/graph/model"
	"clnd/internal/apperr"
	"clnd/internal/licensing"
	"clnd/internal/live"
	"clnd/internal/viewer"
)

// checkInFilter scopes a subscription to the subscriber's tenant: resellers
// see only their own check-ins whatever they ask for; operators see all.
func checkInFilter(ctx context.Context, where *model.CheckInFilter) (live.Filter, error) {
	v := viewer.FromContext(ctx)
	f := live.Filter{}
	switch v.Role {
	case viewer.Reseller:
		f.ResellerID = v.ResellerID
	case viewer.Operator:
	default:
		return f, apperr.ErrUnauthenticated
	}
	if where == nil {
		return f, nil
	}
	f.LicenseID = deref(where.LicenseID)
	f.ServerAccountID = deref(where.ServerAccountID)
	if where.Type != nil {
		f.Type = *where.Type
	}
	if where.IP != nil && *where.IP != "" {
		ip, err := licensing.CanonicalIP("ip", *where.IP)
		if err != nil {
			return f, err
		}
		f.IP = ip
	}
	return f, nil
}
