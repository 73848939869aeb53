package events

import (
	"context"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/ent/predicate"
	"clnd/internal/clock"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// staleBatch bounds the licenses one sweep transaction claims, so a sweep
// after a long outage holds no lock for long and never loads every license.
const staleBatch = 200

// statusStale is licensing.Stale (the licensing package writes events, so
// this one cannot import it).
const statusStale = "STALE"

// SweepStale writes license.stale for every live license whose last
// check-in is older than window by the context's clock, once per silence:
// a license that checks in again and falls silent again gets a new event;
// one that never checked in is not stale. Every instance may sweep at the
// same time: a license is claimed by a conditional update of its
// stale_event_for (the last check-in its event was written for), and only
// the claim that wins writes the event, in the claim's transaction. It
// returns how many events it wrote. The check-in path is untouched: a new
// check-in simply makes stale_event_for differ from last_check_in again.
func SweepStale(ctx context.Context, client *ent.Client, window time.Duration) (int, error) {
	ctx = viewer.SystemContext(ctx)
	cutoff := clock.Now(ctx).Add(-window)
	written, after := 0, ""
	for {
		q := client.IPLicense.Query().
			Where(staleUnannounced(cutoff)).
			Order(iplicense.ByID()).
			Limit(staleBatch)
		if after != "" {
			q = q.Where(iplicense.IDGT(after))
		}
		ids, err := q.IDs(ctx)
		if err != nil || len(ids) == 0 {
			return written, err
		}
		var n int
		err = store.InTx(ctx, client, func(tx *ent.Tx) error {
			n, err = claimStale(ctx, tx, ids, cutoff)
			return err
		})
		if err != nil {
			return written, err
		}
		written += n
		if len(ids) < staleBatch {
			return written, nil
		}
		after = ids[len(ids)-1]
	}
}

// claimStale claims, in one statement, the listed licenses that are still
// stale and unannounced, and writes their events in a few more; a license
// another sweep claimed first, or that checked in or was removed since it
// was listed, is not returned by the claim and is skipped.
func claimStale(ctx context.Context, tx *ent.Tx, ids []string, cutoff time.Time) (int, error) {
	// The whole condition is re-read by the UPDATE itself (under the row
	// lock on PostgreSQL; SQLite transactions take the write lock at BEGIN),
	// and stale_event_for takes the row's own last_check_in, so the claim is
	// exactly "this silence, not announced yet".
	idArgs := make([]any, len(ids))
	for i, id := range ids {
		idArgs[i] = id
	}
	d := sql.Dialect(tx.Dialect())
	cond := sql.And(
		sql.In(iplicense.FieldID, idArgs...),
		sql.IsNull(iplicense.FieldRemovedAt),
		sql.LT(iplicense.FieldLastCheckIn, cutoff),
		sql.Or(
			sql.IsNull(iplicense.FieldStaleEventFor),
			sql.ColumnsNEQ(iplicense.FieldStaleEventFor, iplicense.FieldLastCheckIn),
		),
	)
	if tx.Dialect() == dialect.Postgres {
		// Rows the check-in writer holds are skipped, not waited for: it
		// updates batches in no set order, and waiting could deadlock. A
		// license checking in right now is not stale anyway; any other is
		// claimed by the next sweep.
		lockable := d.Select(iplicense.FieldID).From(sql.Table(iplicense.Table)).Where(cond).
			For(sql.LockNoKeyUpdate, sql.WithLockAction(sql.SkipLocked))
		cond = sql.And(sql.In(iplicense.FieldID, lockable), cond)
	}
	query, args := d.Update(iplicense.Table).
		Set(iplicense.FieldStaleEventFor, sql.ExprFunc(func(b *sql.Builder) { b.Ident(iplicense.FieldLastCheckIn) })).
		Where(cond).
		Returning(iplicense.FieldID).
		Query()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	var claimed []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		claimed = append(claimed, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(claimed) == 0 {
		return 0, err
	}
	licenses, err := tx.IPLicense.Query().Where(iplicense.IDIn(claimed...)).Order(iplicense.ByID()).All(ctx)
	if err != nil {
		return 0, err
	}
	pending := make([]Pending, len(licenses))
	for i, l := range licenses {
		pending[i] = Pending{Type: LicenseStale, ResellerID: l.ResellerID, Object: LicenseOf(l, statusStale)}
	}
	if _, err := EmitMany(ctx, tx, pending); err != nil {
		return 0, err
	}
	return len(licenses), nil
}

// staleUnannounced matches live licenses last seen before cutoff whose
// silence has no license.stale event yet. Licenses that never checked in
// have no last check-in and never match.
func staleUnannounced(cutoff time.Time) predicate.IPLicense {
	return iplicense.And(
		iplicense.RemovedAtIsNil(),
		iplicense.LastCheckInLT(cutoff),
		iplicense.Or(
			iplicense.StaleEventForIsNil(),
			predicate.IPLicense(func(s *sql.Selector) {
				s.Where(sql.ColumnsNEQ(s.C(iplicense.FieldStaleEventFor), s.C(iplicense.FieldLastCheckIn)))
			}),
		),
	)
}
