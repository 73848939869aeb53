package accounts

import (
	"context"

	"clnd/ent"
	"clnd/ent/reseller"
	"clnd/internal/apperr"
	"clnd/internal/viewer"
)

// ErrPastDue refuses new spending while a declined autopayment leaves the
// balance negative.
var ErrPastDue = apperr.New(apperr.PaymentRequired, "the account is past due: top up to a balance of zero or more first")

// ErrSuspended refuses everything new for a suspended account.
var ErrSuspended = apperr.New(apperr.Forbidden, "the account is suspended")

// Acting returns the reseller a mutation acts for: the calling reseller, or
// for an operator the one it names (resellerID is then required).
func Acting(ctx context.Context, tx *ent.Tx, resellerID *string) (*ent.Reseller, error) {
	v := viewer.FromContext(ctx)
	id := v.ResellerID
	switch {
	case v.Role == viewer.Reseller:
		if resellerID != nil && *resellerID != "" && *resellerID != v.ResellerID {
			return nil, apperr.NotFoundf("no reseller with ID %q", *resellerID)
		}
	case resellerID == nil || *resellerID == "":
		return nil, apperr.Input("resellerID", "an operator must name the reseller")
	default:
		id = *resellerID
	}
	r, err := tx.Reseller.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no reseller with ID %q", id)
	}
	return r, err
}

// RequireGoodStanding refuses new licenses, backups and higher limits for a
// past-due or suspended reseller.
func RequireGoodStanding(r *ent.Reseller) error {
	switch r.Status {
	case reseller.StatusPAST_DUE:
		return ErrPastDue
	case reseller.StatusSUSPENDED:
		return ErrSuspended
	}
	return nil
}
