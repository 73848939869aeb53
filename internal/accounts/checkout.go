package accounts

import (
	"context"
	"net/url"
	"strings"

	"clnd/ent"
	"clnd/ent/checkout"
	"clnd/ent/paymentattempt"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/viewer"
)

// CheckoutStart is a reseller's request to pay by a redirect payment.
type CheckoutStart struct {
	Amount money.Cents
	// ReturnURL and CancelURL are the dashboard's pages the payer comes
	// back to; their origins must be allowed (Service.ReturnOrigins).
	ReturnURL, CancelURL string
	// Base is clnd's own public origin, for the provider's return pages.
	Base string
}

// ReturnPath and CancelPath are clnd's pages the provider sends the payer
// back to: /checkout/<id>/return captures the order and redirects to the
// dashboard's returnURL; /checkout/<id>/cancel ends it.
const (
	CheckoutPagePrefix = "/checkout/"
	ReturnPath         = "/return"
	CancelPath         = "/cancel"
)

// StartCheckout opens a redirect payment for the calling reseller: the
// checkout is committed first, then the provider opens its order (the
// checkout's ID is its idempotency key), and the payer is sent to the
// order's approve page. No money moves until the order is captured
// (CaptureCheckout, on the payer's return or the provider's webhook).
func (s *Service) StartCheckout(ctx context.Context, in CheckoutStart) (*ent.Checkout, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller {
		return nil, apperr.New(apperr.Forbidden, "checkouts are made by resellers")
	}
	if in.Amount < MinTopUp || in.Amount > MaxTopUp {
		return nil, apperr.Input("amount", "a checkout is %s to %s", MinTopUp, MaxTopUp)
	}
	for field, u := range map[string]string{"returnURL": in.ReturnURL, "cancelURL": in.CancelURL} {
		if err := s.allowedReturn(field, u); err != nil {
			return nil, err
		}
	}
	if s.Checkout == nil {
		return nil, apperr.New(apperr.Unavailable, "no checkout provider is configured")
	}
	var c *ent.Checkout
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		var err error
		c, err = tx.Checkout.Create().
			SetResellerID(v.ResellerID).
			SetAmount(in.Amount).
			SetProvider(s.Checkout.Name()).
			SetReturnURL(in.ReturnURL).
			SetCancelURL(in.CancelURL).
			Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	page := strings.TrimRight(in.Base, "/") + CheckoutPagePrefix + c.ID
	order, err := s.Checkout.Create(ctx, payments.OrderRequest{
		Key: c.ID, Amount: in.Amount, Description: "clnd deposit top-up",
		ReturnURL: page + ReturnPath, CancelURL: page + CancelPath,
	})
	sys := viewer.SystemContext(ctx)
	if err != nil {
		_ = s.Client.Checkout.UpdateOne(c).SetStatus(checkout.StatusFAILED).Exec(sys)
		if f, ok := payments.AsFailure(err); ok {
			return nil, apperr.New(apperr.PaymentFailed, "the checkout provider refused the order (%s)", f.Error())
		}
		s.logger().Warn("opening a checkout order failed", "checkout", c.ID, "err", err)
		return nil, apperr.New(apperr.Unavailable, "the checkout provider did not answer; try again")
	}
	return s.Client.Checkout.UpdateOne(c).SetProviderRef(order.ID).SetApproveURL(order.ApproveURL).Save(ctx)
}

// allowedReturn accepts an absolute http(s) URL whose origin is allowed,
// or nothing: no open redirect through clnd's return pages.
func (s *Service) allowedReturn(field, raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > maxReturnURL {
		return apperr.Input(field, "at most %d characters", maxReturnURL)
	}
	origin, ok := originOf(raw)
	if !ok {
		return apperr.Input(field, "an absolute http(s) URL is required")
	}
	for _, allowed := range s.ReturnOrigins {
		if o, ok := originOf(allowed); ok && o == origin {
			return nil
		}
	}
	return apperr.Input(field, "%s is not an allowed origin for checkout pages (configure --checkout-return-origins)", origin)
}

// maxReturnURL bounds a checkout's return and cancel URLs.
const maxReturnURL = 2048

// originOf is a URL's origin as browsers compare it: scheme and host in
// lower case, the scheme's default port left out. Only absolute http(s)
// URLs without userinfo have one here.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	port := u.Port()
	switch {
	case scheme != "https" && scheme != "http":
		return "", false
	case port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80"):
		return scheme + "://" + host, true
	}
	return scheme + "://" + host + ":" + port, true
}

// CaptureCheckout takes the money of an approved checkout, once: on the
// payer's return and on the provider's webhooks, whichever comes first. It
// commits (or reuses) the checkout's PENDING capture attempt and settles it;
// a capture whose order is not approved yet waits (REQUIRES_ACTION) and is
// tried again on the next call. It answers the checkout as it then stands.
func (s *Service) CaptureCheckout(ctx context.Context, id string) (*ent.Checkout, error) {
	ctx = viewer.SystemContext(ctx)
	var attemptID string
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		// Claiming the checkout's row first (a write) serialises captures
		// of one checkout on PostgreSQL and SQLite alike.
		n, err := tx.Checkout.Update().
			Where(checkout.ID(id), checkout.StatusEQ(checkout.StatusPENDING), checkout.ProviderRefNEQ("")).
			SetStatus(checkout.StatusPENDING).
			Save(ctx)
		if err != nil || n == 0 {
			return err // not pending: completed, canceled, failed or unknown
		}
		c, err := tx.Checkout.Get(ctx, id)
		if err != nil {
			return err
		}
		open, err := tx.PaymentAttempt.Query().
			Where(
				paymentattempt.CheckoutID(id),
				paymentattempt.StatusIn(paymentattempt.StatusPENDING, paymentattempt.StatusREQUIRES_ACTION, paymentattempt.StatusSUCCEEDED),
			).
			Only(ctx)
		switch {
		case ent.IsNotFound(err):
			open, err = tx.PaymentAttempt.Create().
				SetResellerID(c.ResellerID).
				SetPurpose(paymentattempt.PurposeCHECKOUT).
				SetAmount(c.Amount).
				SetGateway(c.Provider).
				SetMethodLabel(c.Provider + " checkout").
				SetCheckoutID(id).
				SetOpenedAt(clock.Wall()).
				SetNextTryAt(clockWallPlus(s.grace())).
				Save(ctx)
		case err == nil && open.Status == paymentattempt.StatusREQUIRES_ACTION:
			err = tx.PaymentAttempt.UpdateOne(open).SetStatus(paymentattempt.StatusPENDING).Exec(ctx)
		}
		if err != nil {
			return err
		}
		attemptID = open.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	if attemptID != "" {
		if _, err := s.Settle(ctx, attemptID); err != nil {
			s.logger().Info("a checkout capture did not go through", "checkout", id, "attempt", attemptID, "err", err)
		}
	}
	return s.Client.Checkout.Get(ctx, id)
}

// CheckoutCaptured records the provider's word that a checkout's capture
// took the money (PayPal's PAYMENT.CAPTURE.COMPLETED, verified): the capture
// attempt still waiting is credited, once. Asking PayPal again would not
// do: a capture it held for review answers "pending" to every retry with
// the same key, and only this event says that it settled. Without a
// waiting attempt the checkout is captured as on the payer's return.
func (s *Service) CheckoutCaptured(ctx context.Context, id, captureID string) (*ent.Checkout, error) {
	ctx = viewer.SystemContext(ctx)
	a, err := s.Client.PaymentAttempt.Query().
		Where(
			paymentattempt.CheckoutID(id),
			// DECLINED too: one the reconciler gave up on was paid after all.
			paymentattempt.StatusIn(paymentattempt.StatusPENDING, paymentattempt.StatusREQUIRES_ACTION, paymentattempt.StatusDECLINED),
		).
		Order(ent.Desc(paymentattempt.FieldCreatedAt)).
		First(ctx)
	if ent.IsNotFound(err) || captureID == "" {
		return s.CaptureCheckout(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.ProviderSucceeded(ctx, a, captureID); err != nil {
		return nil, err
	}
	return s.Client.Checkout.Get(ctx, id)
}

// CancelCheckout ends a pending checkout without payment (the payer
// canceled at the provider), unless its capture is already in flight: that
// payment counts, and the checkout stays PENDING until it is recorded. The
// checkout's row is claimed first, as CaptureCheckout claims it, so the two
// take turns and a cancel never answers CANCELED for money that arrives.
func (s *Service) CancelCheckout(ctx context.Context, id string) (*ent.Checkout, error) {
	ctx = viewer.SystemContext(ctx)
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		n, err := tx.Checkout.Update().
			Where(checkout.ID(id), checkout.StatusEQ(checkout.StatusPENDING)).
			SetStatus(checkout.StatusPENDING).
			Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		capturing, err := tx.PaymentAttempt.Query().
			Where(paymentattempt.CheckoutID(id), paymentattempt.StatusIn(paymentattempt.StatusPENDING, paymentattempt.StatusSUCCEEDED)).
			Exist(ctx)
		if err != nil || capturing {
			return err
		}
		return tx.Checkout.UpdateOneID(id).SetStatus(checkout.StatusCANCELED).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	return s.Client.Checkout.Get(ctx, id)
}

// CheckoutByOrder finds the checkout of a provider's order.
func (s *Service) CheckoutByOrder(ctx context.Context, provider, orderID string) (*ent.Checkout, error) {
	return s.Client.Checkout.Query().
		Where(checkout.Provider(provider), checkout.ProviderRef(orderID)).
		Only(viewer.SystemContext(ctx))
}
