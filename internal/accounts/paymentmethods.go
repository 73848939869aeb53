package accounts

import (
	"context"

	"clnd/ent"
	"clnd/ent/paymentmethod"
	"clnd/ent/reseller"
	"clnd/internal/apperr"
	"clnd/internal/payments"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// MaxPaymentMethods bounds one reseller's saved methods.
const MaxPaymentMethods = 20

// AddPaymentMethod saves a method for the calling reseller through the
// gateway (only its reference and label are kept). The first method, or one
// asked to be, becomes the default. The gateway is called before any
// transaction begins, so a slow gateway holds no lock; the method is then
// written under the reseller's row lock, which serialises this reseller's
// method changes, so there is always exactly one default.
func (s *Service) AddPaymentMethod(ctx context.Context, gatewayToken string, makeDefault bool) (*ent.PaymentMethod, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller {
		return nil, apperr.New(apperr.Forbidden, "payment methods belong to resellers")
	}
	if !v.CanWrite() {
		return nil, apperr.ErrForbidden
	}
	owner, err := s.Client.Reseller.Get(ctx, v.ResellerID)
	if err != nil {
		return nil, err
	}
	if err := s.roomForMethod(ctx, s.Client.PaymentMethod.Query()); err != nil {
		return nil, err
	}
	// Saving is not a charge; it attaches the method to the reseller's
	// customer at the gateway, created on first use (one per reseller).
	saved, err := s.Gateway.Save(ctx, payments.MethodRequest{
		Token: gatewayToken, CustomerRef: owner.GatewayCustomer, ResellerID: v.ResellerID,
		Email: owner.BillingEmail, Name: owner.Login,
	})
	if err != nil {
		return nil, err
	}
	var pm *ent.PaymentMethod
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		owner, err := tx.Reseller.Query().Where(reseller.ID(v.ResellerID)).Modify(store.ForUpdate).Only(ctx)
		if err != nil {
			return err
		}
		if err := s.roomForMethod(ctx, tx.PaymentMethod.Query()); err != nil {
			return err
		}
		if owner.GatewayCustomer == "" && saved.CustomerRef != "" {
			if err := tx.Reseller.UpdateOne(owner).SetGatewayCustomer(saved.CustomerRef).Exec(ctx); err != nil {
				return err
			}
		}
		count, err := tx.PaymentMethod.Query().Count(ctx)
		if err != nil {
			return err
		}
		makeDefault = makeDefault || count == 0
		if makeDefault {
			if err := tx.PaymentMethod.Update().SetIsDefault(false).Exec(ctx); err != nil {
				return err
			}
		}
		pm, err = tx.PaymentMethod.Create().
			SetResellerID(v.ResellerID).
			SetKind(paymentmethod.Kind(saved.Kind)).
			SetLabel(saved.Label).
			SetIsDefault(makeDefault).
			SetGateway(s.Gateway.Name()).
			SetGatewayRef(saved.Ref).
			Save(ctx)
		return err
	})
	return pm, err
}

// roomForMethod refuses a method beyond MaxPaymentMethods.
func (s *Service) roomForMethod(ctx context.Context, q *ent.PaymentMethodQuery) error {
	count, err := q.Count(ctx)
	if err != nil {
		return err
	}
	if count >= MaxPaymentMethods {
		return apperr.New(apperr.LimitReached, "a reseller has at most %d payment methods", MaxPaymentMethods)
	}
	return nil
}

// lockedMethod locks the reseller's row, then reads the method: read after
// the lock, its isDefault cannot be stale.
func lockedMethod(ctx context.Context, tx *ent.Tx, id string) (*ent.PaymentMethod, error) {
	owner, err := tx.PaymentMethod.Query().Where(paymentmethod.ID(id)).Select(paymentmethod.FieldResellerID).String(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no payment method with ID %q", id)
	}
	if err != nil {
		return nil, err
	}
	if _, err := tx.Reseller.Query().Where(reseller.ID(owner)).Modify(store.ForUpdate).Only(ctx); err != nil {
		return nil, err
	}
	pm, err := tx.PaymentMethod.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no payment method with ID %q", id)
	}
	return pm, err
}

// SetDefaultPaymentMethod makes one of the caller's methods the default.
func SetDefaultPaymentMethod(ctx context.Context, tx *ent.Tx, id string) (*ent.PaymentMethod, error) {
	pm, err := lockedMethod(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.PaymentMethod.Update().Where(paymentmethod.ResellerID(pm.ResellerID)).SetIsDefault(false).Exec(ctx); err != nil {
		return nil, err
	}
	return tx.PaymentMethod.UpdateOne(pm).SetIsDefault(true).Save(ctx)
}

// RemovePaymentMethod deletes one of the caller's methods; if it was the
// default, the newest remaining one becomes the default.
func RemovePaymentMethod(ctx context.Context, tx *ent.Tx, id string) error {
	pm, err := lockedMethod(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := tx.PaymentMethod.DeleteOne(pm).Exec(ctx); err != nil {
		return err
	}
	if !pm.IsDefault {
		return nil
	}
	next, err := tx.PaymentMethod.Query().
		Where(paymentmethod.ResellerID(pm.ResellerID)).
		Order(ent.Desc(paymentmethod.FieldCreatedAt), ent.Desc(paymentmethod.FieldID)).
		First(ctx)
	if ent.IsNotFound(err) {
		return nil // no method left: autopayment will have nothing to charge
	}
	if err != nil {
		return err
	}
	return tx.PaymentMethod.UpdateOne(next).SetIsDefault(true).Exec(ctx)
}

// defaultMethod is the reseller's default payment method.
func defaultMethod(ctx context.Context, tx *ent.Tx, resellerID string) (*ent.PaymentMethod, error) {
	pm, err := tx.PaymentMethod.Query().
		Where(paymentmethod.ResellerID(resellerID), paymentmethod.IsDefault(true)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Input("paymentMethodID", "there is no default payment method; add one or name one")
	}
	return pm, err
}
