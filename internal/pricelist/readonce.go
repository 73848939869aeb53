package pricelist

import (
	"context"
	"sync"

	"clnd/ent"
	"clnd/internal/money"
)

// readOnce holds the price list as one read-only operation first read it.
type readOnce struct {
	productsOnce sync.Once
	products     []*ent.Product
	productsErr  error

	backupOnce sync.Once
	backup     money.Cents
	backupErr  error
}

type readOnceKey struct{}

// ReadOnce returns a context in which Products, PricesByType and
// BackupPricePerGB read the database at most once each, however many rows
// ask (every Backup.monthlyPrice, every summary of a list). It is for a
// read-only GraphQL query: a context that also changes prices, or lives
// long (a subscription), must not use it.
func ReadOnce(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnceKey{}, &readOnce{})
}

func readOnceFrom(ctx context.Context) *readOnce {
	m, _ := ctx.Value(readOnceKey{}).(*readOnce)
	return m
}

// Products lists the catalogue in catalogue order. The slice may be shared
// by the whole operation: do not modify it.
func Products(ctx context.Context, client *ent.Client) ([]*ent.Product, error) {
	m := readOnceFrom(ctx)
	if m == nil {
		return readProducts(ctx, client)
	}
	m.productsOnce.Do(func() { m.products, m.productsErr = readProducts(ctx, client) })
	return m.products, m.productsErr
}

// BackupPricePerGB is the current price of one GB-month of backup storage.
func BackupPricePerGB(ctx context.Context, client *ent.Client) (money.Cents, error) {
	m := readOnceFrom(ctx)
	if m == nil {
		return readBackupPricePerGB(ctx, client)
	}
	m.backupOnce.Do(func() { m.backup, m.backupErr = readBackupPricePerGB(ctx, client) })
	return m.backup, m.backupErr
}
