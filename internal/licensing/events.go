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
	status := StatusAt(l.LastCheckIn, clock.Now(ctx), StaleAfter(ctx))
	_, err := events.Emit(ctx, tx, typ, l.ResellerID, events.LicenseOf(l, string(status)))
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
	perGB, err := pricelist.LockedBackupPricePerGB(ctx, tx)
	if err != nil {
		return err
	}
	for _, b := range backups {
		removed := *b
		removed.RemovedAt = &at
		if err := emitBackup(ctx, tx, events.BackupDeactivated, &removed, perGB); err != nil {
			return err
		}
	}
	return nil
}
