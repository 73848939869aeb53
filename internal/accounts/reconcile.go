package accounts

import (
	"context"
	"time"

	"clnd/ent/paymentattempt"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// ReconcileEvery is how often every instance looks for attempts to settle.
const ReconcileEvery = time.Minute

// claimFor is how long a reconciler owns an attempt it is settling before
// another may try (longer than any provider call's timeout).
const claimFor = 2 * time.Minute

// Reconcile settles the PENDING attempts whose next try is due: those whose
// request died (a crash, a kill) or whose provider did not answer. Several
// instances may run it at once: each attempt is claimed with a conditional
// update of its next try, and settling is itself safe to repeat. It answers
// how many it settled and how many stay pending.
func (s *Service) Reconcile(ctx context.Context) (settled, pending int, err error) {
	return s.reconcile(ctx, false)
}

// ReconcileNow settles every PENDING attempt at once, due or not (the
// operator's settlePaymentAttempts): safe, because settling is.
func (s *Service) ReconcileNow(ctx context.Context) (settled, pending int, err error) {
	return s.reconcile(ctx, true)
}

func (s *Service) reconcile(ctx context.Context, all bool) (settled, pending int, err error) {
	ctx = viewer.SystemContext(ctx)
	if s.Clock != nil && clock.FromContext(ctx) == nil {
		ctx = clock.NewContext(ctx, s.Clock)
	}
	horizon := clock.Wall()
	if all {
		horizon = horizon.Add(GiveUpAfter)
	}
	due, err := s.Client.PaymentAttempt.Query().
		Where(paymentattempt.StatusEQ(paymentattempt.StatusPENDING), paymentattempt.NextTryAtLTE(horizon)).
		Order(paymentattempt.ByNextTryAt()).
		Limit(200).
		All(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, a := range due {
		n, err := s.Client.PaymentAttempt.Update().
			Where(paymentattempt.ID(a.ID), paymentattempt.StatusEQ(paymentattempt.StatusPENDING), paymentattempt.NextTryAt(*a.NextTryAt)).
			SetNextTryAt(clock.Wall().Add(claimFor)).
			Save(ctx)
		if err != nil {
			return settled, pending, err
		}
		if n == 0 {
			continue // another instance took it
		}
		after, err := s.Settle(ctx, a.ID)
		switch {
		case after == nil:
			s.logger().Error("settling a payment attempt", "attempt", a.ID, "err", err)
		case after.Status == paymentattempt.StatusPENDING:
		default:
			settled++
			s.logger().Info("settled a payment attempt", "attempt", a.ID, "purpose", a.Purpose, "status", after.Status)
		}
	}
	if err := s.expireWaiting(ctx); err != nil {
		return settled, pending, err
	}
	// What stays pending, beyond this run's batch too.
	left, err := s.Client.PaymentAttempt.Query().Where(paymentattempt.StatusEQ(paymentattempt.StatusPENDING)).Count(ctx)
	return settled, left, err
}

// expireWaiting declines the attempts that waited for the payer (3-D
// Secure, a PayPal approval) longer than GiveUpAfter: the payer is gone,
// and a due autopayment must leave its reseller past due.
func (s *Service) expireWaiting(ctx context.Context) error {
	stale, err := s.Client.PaymentAttempt.Query().
		Where(
			paymentattempt.StatusEQ(paymentattempt.StatusREQUIRES_ACTION),
			paymentattempt.OpenedAtLT(clock.Wall().Add(-GiveUpAfter)),
		).
		Limit(200).
		All(ctx)
	if err != nil {
		return err
	}
	for _, a := range stale {
		if _, err := s.ProviderFailed(ctx, a, "", "payer_action_expired", "the payer did not complete the payment in time"); err != nil {
			return err
		}
	}
	return nil
}

// RunReconciler reconciles at start-up and then every ReconcileEvery until
// ctx ends.
func (s *Service) RunReconciler(ctx context.Context) {
	t := time.NewTicker(ReconcileEvery)
	defer t.Stop()
	for {
		if _, _, err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.logger().Error("reconciling payment attempts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
