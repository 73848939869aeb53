package events

import (
	"context"
	"time"

	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/event"
	"clnd/ent/predicate"
	"clnd/ent/webhookdelivery"
	"clnd/internal/clock"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// DefaultRetention is how long events are kept when the operator says
// nothing: long past any retry (about three days) and any sensible polling
// gap.
const DefaultRetention = 90 * 24 * time.Hour

// pruneBatch bounds the events one prune transaction deletes.
const pruneBatch = 1000

// Prune deletes the events older than retention (by the context's clock)
// with their deliveries, except an event a delivery is still PENDING for:
// it goes once that delivery ends. It returns how many events it deleted.
// Every instance may prune at once: deleting what another deleted first
// deletes nothing.
func Prune(ctx context.Context, client *ent.Client, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	ctx = viewer.SystemContext(ctx)
	cutoff := clock.Now(ctx).Add(-retention)
	deleted := 0
	for {
		ids, err := client.Event.Query().
			Where(event.CreatedAtLT(cutoff), withoutDeliveries(true)).
			Order(event.ByID()).
			Limit(pruneBatch).
			IDs(ctx)
		if err != nil || len(ids) == 0 {
			return deleted, err
		}
		var n int
		err = store.InTx(ctx, client, func(tx *ent.Tx) error {
			// A delivery that turned PENDING again since (a redelivery makes
			// a new row) keeps its event: only finished ones go.
			if _, err := tx.WebhookDelivery.Delete().
				Where(webhookdelivery.EventIDIn(ids...), webhookdelivery.StatusNEQ(webhookdelivery.StatusPENDING)).
				Exec(ctx); err != nil {
				return err
			}
			n, err = tx.Event.Delete().
				Where(event.IDIn(ids...), withoutDeliveries(false)).
				Exec(ctx)
			return err
		})
		if err != nil {
			return deleted, err
		}
		deleted += n
		if len(ids) < pruneBatch {
			return deleted, nil
		}
	}
}

// withoutDeliveries matches events no delivery refers to (pendingOnly: no
// PENDING delivery).
func withoutDeliveries(pendingOnly bool) predicate.Event {
	return func(s *sql.Selector) {
		t := sql.Table(webhookdelivery.Table)
		cond := sql.ColumnsEQ(t.C(webhookdelivery.FieldEventID), s.C(event.FieldID))
		if pendingOnly {
			cond = sql.And(cond, sql.EQ(t.C(webhookdelivery.FieldStatus), webhookdelivery.StatusPENDING))
		}
		s.Where(sql.NotExists(sql.Select(t.C(webhookdelivery.FieldID)).From(t).Where(cond)))
	}
}
