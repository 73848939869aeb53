package accounts

import (
	"context"

	"clnd/ent"
	"clnd/ent/gatewayevent"
	"clnd/ent/paymentattempt"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

// GatewayEventRecord is a provider's webhook event as operators see it.
type GatewayEventRecord struct {
	Provider, EventID, Type string
	ResellerID              string
	Reference               string
	Amount                  *money.Cents
	Summary                 string
}

// SeenGatewayEvent says whether a provider's event was acted on already.
func (s *Service) SeenGatewayEvent(ctx context.Context, provider, eventID string) (bool, error) {
	return s.Client.GatewayEvent.Query().
		Where(gatewayevent.Provider(provider), gatewayevent.EventID(eventID)).
		Exist(viewer.SystemContext(ctx))
}

// RecordGatewayEvent keeps an event for operators; a repeat is ignored.
func (s *Service) RecordGatewayEvent(ctx context.Context, e GatewayEventRecord) error {
	create := s.Client.GatewayEvent.Create().
		SetProvider(e.Provider).
		SetEventID(e.EventID).
		SetType(e.Type).
		SetReference(e.Reference).
		SetNillableAmount(e.Amount).
		SetSummary(e.Summary)
	if e.ResellerID != "" {
		create.SetResellerID(e.ResellerID)
	}
	err := create.Exec(viewer.SystemContext(ctx))
	if ent.IsConstraintError(err) {
		return nil
	}
	return err
}

// AttemptByRef finds the attempt a provider's event names, by the attempt
// ID the provider was given (Stripe's metadata) or by the provider's own
// reference.
func (s *Service) AttemptByRef(ctx context.Context, attemptID, ref string) (*ent.PaymentAttempt, error) {
	ctx = viewer.SystemContext(ctx)
	if attemptID != "" {
		a, err := s.Client.PaymentAttempt.Get(ctx, attemptID)
		if !ent.IsNotFound(err) {
			return a, err
		}
	}
	if ref == "" {
		return nil, &ent.NotFoundError{}
	}
	return s.Client.PaymentAttempt.Query().Where(paymentattempt.GatewayRef(ref)).First(ctx)
}

// ProviderSucceeded records what a provider says moved money (a Stripe
// payment_intent.succeeded): a PENDING attempt, one waiting for 3-D Secure,
// or one a failed first try declined is credited, once.
func (s *Service) ProviderSucceeded(ctx context.Context, a *ent.PaymentAttempt, ref string) (*ent.PaymentAttempt, error) {
	ctx = viewer.SystemContext(ctx)
	return s.inTx(ctx, a.ID, func(tx *ent.Tx) error {
		return recordSuccessTx(ctx, tx, a, ref,
			paymentattempt.StatusPENDING, paymentattempt.StatusREQUIRES_ACTION, paymentattempt.StatusDECLINED)
	})
}

// ProviderFailed records a provider's word that an attempt failed (a Stripe
// payment_intent.payment_failed): only a PENDING attempt or one waiting for
// the payer is declined; a succeeded one stays succeeded. A failure that
// asks for the payer (Stripe's authentication_required, which Stripe sends
// as payment_failed, often before the charge call has its answer) leaves
// the attempt waiting for the payer, as the answer would have, not
// declined: the payer can still complete it with 3-D Secure. As in
// recordFailure, deposits and autopayments never wait: nobody is there to
// authenticate them. ref is the provider's object (the PaymentIntent), kept
// as the attempt's reference when not "", as the charge's answer would
// have: the webhook usually arrives first.
func (s *Service) ProviderFailed(ctx context.Context, a *ent.PaymentAttempt, ref, code, message string) (*ent.PaymentAttempt, error) {
	ctx = viewer.SystemContext(ctx)
	reason := code
	if message != "" {
		reason = code + ": " + message
	}
	withRef := func(u *ent.PaymentAttemptUpdate) *ent.PaymentAttemptUpdate {
		if ref != "" {
			u.SetGatewayRef(ref)
		}
		return u.SetReason(reason).SetDeclineCode(code)
	}
	if code == authenticationRequired && a.Purpose != paymentattempt.PurposeDEPOSIT && a.Purpose != paymentattempt.PurposeAUTOPAYMENT {
		return s.inTx(ctx, a.ID, func(tx *ent.Tx) error {
			return withRef(settling(ctx, tx, a, paymentattempt.StatusREQUIRES_ACTION)).Exec(ctx)
		})
	}
	return s.inTx(ctx, a.ID, func(tx *ent.Tx) error {
		upd := settling(ctx, tx, a, paymentattempt.StatusDECLINED, paymentattempt.StatusPENDING, paymentattempt.StatusREQUIRES_ACTION)
		n, err := withRef(upd).Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		return declinedTx(ctx, tx, a)
	})
}

// RefundedThroughClnd says whether clnd's own refunds of the payment a
// attempt made (recorded or still in flight) account for total, the
// provider's refunded total of that payment (Stripe's charge.refunded), so
// that operators are told to adjust only for refunds made at the provider.
func (s *Service) RefundedThroughClnd(ctx context.Context, a *ent.PaymentAttempt, total money.Cents) (bool, error) {
	if a.TransactionID == nil {
		return false, nil
	}
	refunds, err := s.Client.PaymentAttempt.Query().
		Where(
			paymentattempt.PurposeEQ(paymentattempt.PurposeREFUND),
			paymentattempt.RefundOfID(*a.TransactionID),
			paymentattempt.StatusIn(paymentattempt.StatusPENDING, paymentattempt.StatusSUCCEEDED),
		).
		All(viewer.SystemContext(ctx))
	if err != nil {
		return false, err
	}
	var sum money.Cents
	for _, r := range refunds {
		sum += r.Amount
	}
	return sum >= total, nil
}

// authenticationRequired is Stripe's code for a payment the payer must
// authenticate (3-D Secure) before it can go through.
const authenticationRequired = "authentication_required"
