package pricelist

import (
	"context"
	"strconv"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/ent/pricechange"
	"clnd/ent/product"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/catalog"
	"clnd/internal/clock"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

// SetProductPrice changes a product's monthly price (operator only). Running
// licenses and server-account limits of the product are billed at the new
// price from now on.
func SetProductPrice(ctx context.Context, tx *ent.Tx, t catalog.LicenseType, price money.Cents) (*ent.Product, error) {
	if price < 0 {
		return nil, apperr.Input("monthlyPrice", "a price cannot be negative")
	}
	p, err := tx.Product.Query().Where(product.TypeEQ(t)).Only(ctx)
	if err != nil {
		return nil, err
	}
	old := p.MonthlyPrice
	p, err = tx.Product.UpdateOne(p).SetMonthlyPrice(price).Save(ctx)
	if err != nil {
		return nil, err
	}
	now := clock.Now(ctx)
	if price != old {
		err := tx.PriceChange.Create().
			SetProductID(p.ID).
			SetOldPrice(old).
			SetNewPrice(price).
			SetChangedAt(now).
			Exec(ctx)
		if err != nil {
			return nil, err
		}
	}
	sys := viewer.SystemContext(ctx)
	err = billing.Reprice(sys, tx, billablerun.ProductID(p.ID), price, now)
	return p, err
}

// ProductPriceChanges lists the changes of a product's price after `since`,
// oldest first, for a license added then (an import). Changes made before
// price history was kept are not known: today's price stands for them.
// Read it after locking the product (store.ForShare), so that no change
// can commit between it and the runs opened from it.
func ProductPriceChanges(ctx context.Context, tx *ent.Tx, productID string, since time.Time) ([]billing.PriceChange, error) {
	rows, err := tx.PriceChange.Query().
		Where(pricechange.ProductID(productID), pricechange.ChangedAtGT(since)).
		Order(pricechange.ByChangedAt(), pricechange.ByID()).
		All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]billing.PriceChange, len(rows))
	for i, r := range rows {
		out[i] = billing.PriceChange{At: r.ChangedAt, Old: r.OldPrice, New: r.NewPrice}
	}
	return out, nil
}

// SetBackupPricePerGB changes the price of a GB-month of backup storage
// (operator only); running backups are billed at it from now on.
func SetBackupPricePerGB(ctx context.Context, tx *ent.Tx, price money.Cents) (money.Cents, error) {
	if price < 0 {
		return 0, apperr.Input("pricePerGB", "a price cannot be negative")
	}
	if err := tx.Setting.UpdateOneID(BackupPriceKey).SetValue(strconv.FormatInt(int64(price), 10)).Exec(ctx); err != nil {
		return 0, err
	}
	sys := viewer.SystemContext(ctx)
	return price, billing.Reprice(sys, tx, billablerun.KindEQ(billablerun.KindBACKUP), price, clock.Now(ctx))
}
