package accounts

import (
	"context"
	"time"

	"clnd/ent"
	"clnd/ent/checkout"
	"clnd/ent/idempotencyrecord"
	"clnd/ent/loginfailure"
	"clnd/ent/session"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// CheckoutTTL is how long a checkout may stay unpaid.
const CheckoutTTL = 24 * time.Hour

// Sweep deletes what has expired: sessions past their end, login attempts
// older than the rate-limit window, idempotency keys past their lifetime;
// and marks checkouts unpaid for a day EXPIRED.
// Every instance may run it; it returns how many rows it removed.
func (s *Service) Sweep(ctx context.Context, client *ent.Client) (int, error) {
	sys := viewer.SystemContext(ctx)
	now := clock.Now(ctx)
	sessions, err := client.Session.Delete().Where(session.ExpiresAtLTE(now)).Exec(sys)
	if err != nil {
		return 0, err
	}
	attempts, err := client.LoginFailure.Delete().Where(loginfailure.CreatedAtLTE(now.Add(-s.LoginWindow))).Exec(sys)
	if err != nil {
		return sessions, err
	}
	keys, err := client.IdempotencyRecord.Delete().Where(idempotencyrecord.ExpiresAtLTE(now)).Exec(sys)
	if err != nil {
		return sessions + attempts, err
	}
	expired, err := client.Checkout.Update().
		Where(checkout.StatusEQ(checkout.StatusPENDING), checkout.CreatedAtLTE(now.Add(-CheckoutTTL))).
		SetStatus(checkout.StatusEXPIRED).
		Save(sys)
	return sessions + attempts + keys + expired, err
}
