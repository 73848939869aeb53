package accounts

import (
	"context"
	"time"

	"clnd/ent"
	"clnd/ent/paymentattempt"
	"clnd/internal/clock"
	"clnd/internal/failpoint"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

// SettleGrace is how long a PENDING attempt is left to the request that
// opened it before the reconciler asks the provider about it.
const SettleGrace = 30 * time.Second

// openAttempt commits nothing itself: it writes a PENDING charge of a saved
// payment method in tx, to be settled once tx has committed.
func (s *Service) openAttempt(ctx context.Context, tx *ent.Tx, purpose paymentattempt.Purpose, r *ent.Reseller, pm *ent.PaymentMethod, amount money.Cents) (*ent.PaymentAttempt, error) {
	return tx.PaymentAttempt.Create().
		SetResellerID(r.ID).
		SetPurpose(purpose).
		SetAmount(amount).
		SetGateway(pm.Gateway).
		SetMethodLabel(pm.Label).
		SetMethodRef(pm.GatewayRef).
		SetCustomerRef(r.GatewayCustomer).
		SetOpenedAt(clock.Wall()).
		SetNextTryAt(clockWallPlus(s.grace())).
		Save(viewer.SystemContext(ctx))
}

func (s *Service) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return SettleGrace
}

// settleAfterCommit settles an attempt opened in tx once tx has committed,
// in the committing goroutine, so the request that made the payment due
// answers with its outcome. If the process dies first, the reconciler
// settles it. A client that leaves does not cut the settlement short, but
// the request's deadline does: the debit has committed, and its request
// must answer that it was done before the deadline's watchdog answers
// "retry later" for it (a frozen database holds the settlement's
// statements until their deadline); the attempt, committed before any
// charge, is then left to the reconciler.
func (s *Service) settleAfterCommit(tx *ent.Tx, id string) {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			failpoint.Hit(failpoint.AfterDebit, "")
			deadline, bounded := ctx.Deadline()
			ctx = context.WithoutCancel(ctx)
			if bounded {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, deadline)
				defer cancel()
			}
			if s.Clock != nil && clock.FromContext(ctx) == nil {
				ctx = clock.NewContext(ctx, s.Clock)
			}
			if _, err := s.Settle(ctx, id); err != nil {
				s.logger().Info("an autopayment did not go through", "attempt", id, "err", err)
			}
			return nil
		})
	})
}

func clockWallPlus(d time.Duration) time.Time { return clock.Wall().Add(d) }
