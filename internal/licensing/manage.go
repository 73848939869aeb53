package licensing

import (
	"context"
	"fmt"
	"time"

	"clnd/ent"
	"clnd/ent/backup"
	"clnd/ent/iplicense"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/store"
)

// MaxBulk bounds one bulk call (removal, import).
const MaxBulk = 1000

// RemoveIPLicenses removes licenses and their backups and closes their
// billable runs, all or nothing: if any ID is not the caller's (or does not
// exist, or was removed already) nothing is removed and the answer is
// NOT_FOUND. Removal stamps removed_at (ent/schema.Removal): the rows stay
// for the invoice items that billed them, hidden from everything else.
func RemoveIPLicenses(ctx context.Context, tx *ent.Tx, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, apperr.Input("ids", "name at least one license")
	}
	if len(ids) > MaxBulk {
		return nil, apperr.Input("ids", "at most %d licenses at once", MaxBulk)
	}
	unique := dedupe(ids)
	// Locked first: an activateBackup waiting on a license sees it removed
	// afterwards, and one that came first has its backup read (and removed) here.
	// In ID order, as ipl/remove.json locks them: no lock-order deadlock
	// between the two; a check-in batch locks in its plan's order, so a
	// deadlock with one is retried (LockRetrying).
	var found []*ent.IPLicense
	err := store.LockRetrying(ctx, tx, func() (err error) {
		found, err = tx.IPLicense.Query().Where(iplicense.IDIn(unique...)).Order(iplicense.ByID()).WithBackup().Modify(store.ForUpdate).All(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(found) != len(unique) {
		have := map[string]bool{}
		for _, l := range found {
			have[l.ID] = true
		}
		for _, id := range unique {
			if !have[id] {
				return nil, apperr.NotFoundf("no IP license with ID %q; nothing was removed", id)
			}
		}
	}
	now := clock.Now(ctx)
	var backupIDs []string
	for _, l := range found {
		if err := billing.Close(ctx, tx, l.ID, now); err != nil {
			return nil, err
		}
		if b := l.Edges.Backup; b != nil {
			if err := billing.Close(ctx, tx, b.ID, now); err != nil {
				return nil, err
			}
			backupIDs = append(backupIDs, b.ID)
		}
	}
	if len(backupIDs) > 0 {
		if err := removeBackups(ctx, tx, now, backupIDs...); err != nil {
			return nil, err
		}
	}
	// Removed, not deleted: the invoices that billed them still point at
	// them, and every read and rule but those sees them no more.
	n, err := tx.IPLicense.Update().
		Where(iplicense.IDIn(unique...), iplicense.RemovedAtIsNil()).
		SetRemovedAt(now).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if n != len(unique) {
		return nil, apperr.New(apperr.Conflict, "licenses changed while being removed; nothing was removed")
	}
	var backups []*ent.Backup
	for _, l := range found {
		if b := l.Edges.Backup; b != nil {
			backups = append(backups, b)
		}
	}
	if err := emitBackupsRemoved(ctx, tx, backups, now); err != nil {
		return nil, err
	}
	removed := make([]*ent.IPLicense, len(found))
	for i, l := range found {
		r := *l
		r.RemovedAt = &now
		removed[i] = &r
	}
	if err := emitLicenses(ctx, tx, events.LicenseRemoved, removed); err != nil {
		return nil, err
	}
	return unique, nil
}

// DeactivateBackup removes a license's backup and closes its run.
func DeactivateBackup(ctx context.Context, tx *ent.Tx, licenseID string) (*ent.IPLicense, error) {
	lic, err := tx.IPLicense.Query().Where(iplicense.ID(licenseID)).WithBackup().Only(ctx)
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
	now := clock.Now(ctx)
	if err := billing.Close(ctx, tx, b.ID, now); err != nil {
		return nil, err
	}
	if err := removeBackups(ctx, tx, now, b.ID); err != nil {
		return nil, err
	}
	if err := emitBackupsRemoved(ctx, tx, []*ent.Backup{b}, now); err != nil {
		return nil, err
	}
	return tx.IPLicense.Get(ctx, licenseID)
}

// removeBackups stamps backups removed and frees their licenses for a new
// backup (live_license_id is the one-live-backup-per-license column).
func removeBackups(ctx context.Context, tx *ent.Tx, at time.Time, ids ...string) error {
	return tx.Backup.Update().
		Where(backup.IDIn(ids...), backup.RemovedAtIsNil()).
		SetRemovedAt(at).
		ClearLiveLicenseID().
		Exec(ctx)
}

// ImportIPLicenses adds licenses migrated from another system for one
// reseller, keeping their original added dates (billing starts then, for
// periods not yet invoiced). All or nothing: the first bad license fails the
// whole import and names its position.
func ImportIPLicenses(ctx context.Context, tx *ent.Tx, resellerID string, licenses []NewIPLicense) ([]*ent.IPLicense, error) {
	if len(licenses) == 0 {
		return nil, apperr.Input("licenses", "name at least one license")
	}
	if len(licenses) > MaxBulk {
		return nil, apperr.Input("licenses", "at most %d licenses at once", MaxBulk)
	}
	now := clock.Now(ctx)
	out := make([]*ent.IPLicense, 0, len(licenses))
	for i, n := range licenses {
		if n.AddedAt.IsZero() || n.AddedAt.After(now) {
			return nil, apperr.Input("addedAt", "license %d: addedAt must be a time in the past", i+1)
		}
		n.ResellerID = resellerID
		lic, err := createIPLicense(ctx, tx, n)
		if err != nil {
			if e, ok := apperr.As(err); ok {
				return nil, &apperr.Error{Code: e.Code, Field: e.Field, Message: fmt.Sprintf("license %d: %s", i+1, e.Message), Err: e.Err}
			}
			return nil, err
		}
		out = append(out, lic)
	}
	if err := emitLicenses(ctx, tx, events.LicenseAdded, out); err != nil {
		return nil, err
	}
	return out, nil
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
