package graph

import (
	"context"
	"sync"

	"clnd/internal/accounts"
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

	// Resellers listed by this operation; their summaries are computed
	// together the first time one is asked for.
	mu         sync.Mutex
	listed     []string
	summaries  map[string]*accounts.Summary
	summarized bool
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

// listResellers notes the resellers a list returned, so that their summaries
// can be computed in one go.
func listResellers(ctx context.Context, ids []string) {
	if m, ok := ctx.Value(memoKey{}).(*operationMemo); ok {
		m.mu.Lock()
		m.listed = append(m.listed, ids...)
		m.mu.Unlock()
	}
}

// summary answers Reseller.summary: from the batch computed for the listed
// resellers when there is one, else on its own.
func (r *Resolver) summary(ctx context.Context, resellerID string) (*accounts.Summary, error) {
	m, ok := ctx.Value(memoKey{}).(*operationMemo)
	if !ok {
		return accounts.Summarize(ctx, r.db(ctx), resellerID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.summarized && len(m.listed) > 0 {
		all, err := accounts.SummarizeMany(ctx, r.db(ctx), m.listed)
		if err != nil {
			return nil, err
		}
		m.summaries, m.summarized = all, true
	}
	if s, ok := m.summaries[resellerID]; ok {
		return s, nil
	}
	return accounts.Summarize(ctx, r.db(ctx), resellerID)
}
