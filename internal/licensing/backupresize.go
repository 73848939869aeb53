package licensing

import (
	"context"

	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/internal/accounts"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/pricelist"
	"clnd/internal/store"
)

// Resize changes the size of a license's backup: the backup's billable run
// closes and the next opens at the new size (API.md: changing a billable
// thing closes its run and opens the next). Growing needs an account in
// good standing (PAYMENT_REQUIRED while past due), as raising a server
// account's limit does; shrinking is always allowed. The same size changes
// nothing.
func (sizes BackupSizes) Resize(ctx context.Context, tx *ent.Tx, licenseID string, sizeGB int) (*ent.Backup, error) {
	if sizeGB < sizes.MinGB || sizeGB > sizes.MaxGB {
		return nil, apperr.Input("sizeGB", "a backup is %d to %d GB", sizes.MinGB, sizes.MaxGB)
	}
	// Locked like a removal locks it: a concurrent removal either waits
	// for the resize or has removed the license, which is then not found.
	lic, err := tx.IPLicense.Query().Where(iplicense.ID(licenseID)).WithBackup().Modify(store.ForUpdate).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no IP license with ID %q", licenseID)
	}
	if err != nil {
		return nil, err
	}
	b := lic.Edges.Backup
	if b == nil {
		return nil, apperr.NotFoundf("license %s has no backup", licenseID)
	}
	if sizeGB == b.SizeGB {
		return b, nil
	}
	if sizeGB > b.SizeGB {
		owner, err := tx.Reseller.Get(ctx, lic.ResellerID)
		if err != nil {
			return nil, err
		}
		if err := accounts.RequireGoodStanding(owner); err != nil {
			return nil, err
		}
	}
	dc, err := b.QueryDatacenter().Only(ctx)
	if err != nil {
		return nil, err
	}
	perGB, err := pricelist.LockedBackupPricePerGB(ctx, tx)
	if err != nil {
		return nil, err
	}
	b, err = tx.Backup.UpdateOne(b).SetSizeGB(sizeGB).Save(ctx)
	if err != nil {
		return nil, err
	}
	now := clock.Now(ctx)
	if err := billing.Close(ctx, tx, b.ID, now); err != nil {
		return nil, err
	}
	if err := openBackupRun(ctx, tx, lic, b, dc, perGB, now); err != nil {
		return nil, err
	}
	return b, emitBackup(ctx, tx, events.BackupResized, b, perGB)
}
