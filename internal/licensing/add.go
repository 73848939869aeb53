package licensing

import (
	"context"

	"clnd/ent"
	"clnd/internal/accounts"
	"clnd/internal/clock"
)

// AddIPLicense licenses a server now for the reseller the caller acts for
// (itself, or the one an operator names): PAYMENT_REQUIRED while past due,
// then CreateIPLicense's rules. The addIPLicense mutation and the CLN API's
// ipl/register both come here.
func AddIPLicense(ctx context.Context, tx *ent.Tx, actingFor *string, n NewIPLicense) (*ent.IPLicense, error) {
	owner, err := accounts.Acting(ctx, tx, actingFor)
	if err != nil {
		return nil, err
	}
	if err := accounts.RequireGoodStanding(owner); err != nil {
		return nil, err
	}
	n.ResellerID = owner.ID
	n.AddedAt = clock.Now(ctx)
	return CreateIPLicense(ctx, tx, n)
}
