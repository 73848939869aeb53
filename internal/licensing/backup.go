package licensing

import (
	"context"
	"fmt"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/ent/datacenter"
	"clnd/ent/iplicense"
	"clnd/internal/accounts"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/money"
	"clnd/internal/pricelist"
	"clnd/internal/store"
)

// BackupSizes bound a backup's size in GB.
type BackupSizes struct{ MinGB, MaxGB int }

// DefaultBackupSizes are used when none are configured.
var DefaultBackupSizes = BackupSizes{MinGB: 1, MaxGB: 10_000}

// CreateBackup attaches backup storage to a license and opens its billable
// run (size × the price per GB-month), in tx.
func CreateBackup(ctx context.Context, tx *ent.Tx, lic *ent.IPLicense, sizeGB int, datacenterCode string, at time.Time) (*ent.Backup, error) {
	return DefaultBackupSizes.create(ctx, tx, lic, sizeGB, datacenterCode, at)
}

// Activate adds a backup to one of the caller's licenses: NOT_FOUND for a
// license that is not the caller's, PAYMENT_REQUIRED while past due,
// CONFLICT when the license has a backup already.
func (sizes BackupSizes) Activate(ctx context.Context, tx *ent.Tx, licenseID string, sizeGB int, datacenterCode string) (*ent.Backup, error) {
	// Shared lock: a concurrent removal of the license waits for this backup
	// (and removes it), or has removed the license and it is not found.
	lic, err := tx.IPLicense.Query().Where(iplicense.ID(licenseID)).Modify(store.ForShare).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no IP license with ID %q", licenseID)
	}
	if err != nil {
		return nil, err
	}
	owner, err := tx.Reseller.Get(ctx, lic.ResellerID)
	if err != nil {
		return nil, err
	}
	if err := accounts.RequireGoodStanding(owner); err != nil {
		return nil, err
	}
	return sizes.create(ctx, tx, lic, sizeGB, datacenterCode, clock.Now(ctx))
}

func (sizes BackupSizes) create(ctx context.Context, tx *ent.Tx, lic *ent.IPLicense, sizeGB int, datacenterCode string, at time.Time) (*ent.Backup, error) {
	if sizeGB < sizes.MinGB || sizeGB > sizes.MaxGB {
		return nil, apperr.Input("sizeGB", "a backup is %d to %d GB", sizes.MinGB, sizes.MaxGB)
	}
	dc, err := tx.Datacenter.Query().Where(datacenter.Code(datacenterCode)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Input("datacenter", "unknown datacenter %q", datacenterCode)
	}
	if err != nil {
		return nil, err
	}
	perGB, err := pricelist.LockedBackupPricePerGB(ctx, tx)
	if err != nil {
		return nil, err
	}
	b, err := tx.Backup.Create().
		SetResellerID(lic.ResellerID).
		SetLicenseID(lic.ID).
		SetLiveLicenseID(lic.ID).
		SetDatacenterID(dc.ID).
		SetSizeGB(sizeGB).
		SetCreatedAt(at).
		Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.Wrap(err, apperr.Conflict, "license %s already has a backup", lic.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := openBackupRun(ctx, tx, lic, b, dc, perGB, at); err != nil {
		return nil, err
	}
	return b, emitBackup(ctx, tx, events.BackupActivated, b, perGB)
}

// openBackupRun opens the billable run of a backup at its size from at.
func openBackupRun(ctx context.Context, tx *ent.Tx, lic *ent.IPLicense, b *ent.Backup, dc *ent.Datacenter, perGB money.Cents, at time.Time) error {
	return billing.Open(ctx, tx, billing.Run{
		ResellerID:  lic.ResellerID,
		Kind:        billablerun.KindBACKUP,
		SubjectID:   b.ID,
		Description: backupRunDescription(lic.IP, b.SizeGB, dc.Code),
		Quantity:    b.SizeGB,
		UnitPrice:   perGB,
	}, at)
}

// backupRunDescription names a backup's billable run (and so its invoice item).
func backupRunDescription(ip string, sizeGB int, datacenterCode string) string {
	return fmt.Sprintf("Backup of %s, %d GB in %s", ip, sizeGB, datacenterCode)
}
