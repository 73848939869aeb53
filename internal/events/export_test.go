package events

import (
	"context"

	"clnd/ent/webhookdelivery"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// RecordFailureForTest runs record() for a delivery with a failed outcome.
func (r *Runner) RecordFailureForTest(ctx context.Context, deliveryID string) error {
	ctx = clock.NewContext(viewer.SystemContext(ctx), r.clock)
	d, err := r.db.WebhookDelivery.Query().Where(webhookdelivery.ID(deliveryID)).WithEndpoint().Only(ctx)
	if err != nil {
		return err
	}
	_, err = r.record(ctx, d, d.Edges.Endpoint, outcome{err: "HTTP 500"})
	return err
}

// SetKickLimitForTest lowers Kick's cap; the returned func restores it.
func SetKickLimitForTest(n int) func() {
	old := kickLimit
	kickLimit = n
	return func() { kickLimit = old }
}
