package licensing

import (
	"context"
	"fmt"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/ent/datacenter"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/pricelist"
)

// Backup sizes a license may have, in GB.
const (
	MinBackupGB = 1
	MaxBackupGB = 10_000
)

// CreateBackup attaches backup storage to a license and opens its billable
// run (size × the price per GB-month), in tx.
func CreateBackup(ctx context.Context, tx *ent.Tx, lic *ent.IPLicense, sizeGB int, datacenterCode string, at time.Time) (*ent.Backup, error) {
	if sizeGB < MinBackupGB || sizeGB > MaxBackupGB {
		return nil, apperr.Input("sizeGB", "a backup is %d to %d GB", MinBackupGB, MaxBackupGB)
	}
	dc, err := tx.Datacenter.Query().Where(datacenter.Code(datacenterCode)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Input("datacenter", "unknown datacenter %q", datacenterCode)
	}
	if err != nil {
		return nil, err
	}
	perGB, err := pricelist.BackupPricePerGB(ctx, tx.Client())
	if err != nil {
		return nil, err
	}
	b, err := tx.Backup.Create().
		SetResellerID(lic.ResellerID).
		SetLicenseID(lic.ID).
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
	err = billing.Open(ctx, tx, billing.Run{
		ResellerID:  lic.ResellerID,
		Kind:        billablerun.KindBACKUP,
		SubjectID:   b.ID,
		Description: fmt.Sprintf("Backup of %s, %d GB in %s", lic.IP, sizeGB, dc.Code),
		Quantity:    sizeGB,
		UnitPrice:   perGB,
	}, at)
	return b, err
}
