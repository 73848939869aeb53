package licensing

import (
	"context"
	"time"

	"clnd/ent"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/money"
	"clnd/internal/pricelist"
)

type staleAfterKey struct{}

// WithStaleAfter carries the configured stale window (--stale-after) to the
// domain code that shows a license's status outside a resolver: the
// objects of events.
func WithStaleAfter(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, staleAfterKey{}, d)
}

// StaleAfter is the context's stale window, DefaultStaleAfter without one.
func StaleAfter(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(staleAfterKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	return DefaultStaleAfter
}

// emitLicense writes a license event in tx, showing the license with its
// status now.
func emitLicense(ctx context.Context, tx *ent.Tx, typ string, l *ent.IPLicense) error {
	return emitLicenses(ctx, tx, typ, []*ent.IPLicense{l})
}

// emitLicenses writes one event per license, all at once (a bulk removal).
func emitLicenses(ctx context.Context, tx *ent.Tx, typ string, ls []*ent.IPLicense) error {
	now, window := clock.Now(ctx), StaleAfter(ctx)
	pending := make([]events.Pending, len(ls))
	for i, l := range ls {
		status := StatusAt(l.LastCheckIn, now, window)
		pending[i] = events.Pending{Type: typ, ResellerID: l.ResellerID, Object: events.LicenseOf(l, string(status))}
	}
	_, err := events.EmitMany(ctx, tx, pending)
	return err
}

// emitBackup writes a backup event in tx; perGB is the price per GB-month
// the backup is billed at.
func emitBackup(ctx context.Context, tx *ent.Tx, typ string, b *ent.Backup, perGB money.Cents) error {
	dc, err := tx.Datacenter.Get(ctx, b.DatacenterID)
	if err != nil {
		return err
	}
	_, err = events.Emit(ctx, tx, typ, b.ResellerID, events.BackupOf(b, dc, perGB))
	return err
}

// emitBackupsRemoved writes backup.deactivated for backups removed in tx.
func emitBackupsRemoved(ctx context.Context, tx *ent.Tx, backups []*ent.Backup, at time.Time) error {
	if len(backups) == 0 {
		return nil
	}
	// Read, not locked: the removal has already locked the backups' billing
	// runs, and setBackupPricePerGB locks the price before the runs.
	perGB, err := pricelist.BackupPricePerGB(ctx, tx.Client())
	if err != nil {
		return err
	}
	datacenters := map[string]*ent.Datacenter{}
	pending := make([]events.Pending, len(backups))
	for i, b := range backups {
		dc := datacenters[b.DatacenterID]
		if dc == nil {
			if dc, err = tx.Datacenter.Get(ctx, b.DatacenterID); err != nil {
				return err
			}
			datacenters[b.DatacenterID] = dc
		}
		removed := *b
		removed.RemovedAt = &at
		pending[i] = events.Pending{Type: events.BackupDeactivated, ResellerID: b.ResellerID, Object: events.BackupOf(&removed, dc, perGB)}
	}
	_, err = events.EmitMany(ctx, tx, pending)
	return err
}
