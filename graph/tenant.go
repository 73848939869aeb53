package graph

import (
	"context"

	"clnd/internal/apperr"
	"clnd/internal/viewer"
)

// tenantArg picks the reseller a per-reseller query is about: the caller
// itself, or for an operator the reseller it names.
func tenantArg(ctx context.Context, resellerID *string) (string, error) {
	v := viewer.FromContext(ctx)
	switch {
	case v.Role == viewer.Reseller:
		if resellerID != nil && *resellerID != v.ResellerID {
			return "", apperr.NotFoundf("no reseller with ID %q", *resellerID)
		}
		return v.ResellerID, nil
	case resellerID == nil:
		return "", apperr.Input("resellerID", "an operator must name the reseller")
	}
	return *resellerID, nil
}
