package graph

import (
	"context"
	"sync"

	"clnd/internal/money"
	"clnd/internal/pricelist"
)

// operationMemo caches values that many fields of one operation need (the
// backup price for every Backup.monthlyPrice), so a list does not read them
// once per row. It lives for one GraphQL operation.
type operationMemo struct {
	backupPriceOnce sync.Once
	backupPrice     money.Cents
	backupPriceErr  error
}

type memoKey struct{}

// WithOperationMemo returns a context with a fresh memo; the server calls it
// around every operation.
func WithOperationMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &operationMemo{})
}

func (r *Resolver) backupPricePerGB(ctx context.Context) (money.Cents, error) {
	m, ok := ctx.Value(memoKey{}).(*operationMemo)
	if !ok {
		return pricelist.BackupPricePerGB(ctx, r.db(ctx))
	}
	m.backupPriceOnce.Do(func() {
		m.backupPrice, m.backupPriceErr = pricelist.BackupPricePerGB(ctx, r.db(ctx))
	})
	return m.backupPrice, m.backupPriceErr
}
