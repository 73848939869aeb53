package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/accounts"
	"clnd/internal/money"
	"clnd/internal/pricelist"
)

// operationMemo caches what many fields of one query need, so that a list
// does not read it once per row: the price list (products and the backup
// price, through pricelist.ReadOnce: every Backup.monthlyPrice, every
// summary) and resellers' summaries. It lives for one query operation only:
// a mutation's later fields must see what its earlier fields changed, and a
// subscription lives for hours.
type operationMemo struct {
	// Resellers listed by this operation; their summaries are computed
	// together the first time one is asked for.
	mu         sync.Mutex
	listed     []string
	summarized bool
	summaries  map[string]*summaryOnce
}

// summaryOnce is one reseller's summary, computed by whichever field asks
// first while the others asking for it wait.
type summaryOnce struct {
	once    sync.Once
	summary *accounts.Summary
	err     error
}

type memoKey struct{}

// WithOperationMemo returns a context with a fresh memo for a query
// operation, and ctx itself for any other; the server calls it around every
// operation.
func WithOperationMemo(ctx context.Context) context.Context {
	if !graphql.HasOperationContext(ctx) {
		return ctx
	}
	if op := graphql.GetOperationContext(ctx).Operation; op == nil || op.Operation != ast.Query {
		return ctx
	}
	ctx = pricelist.ReadOnce(ctx)
	return context.WithValue(ctx, memoKey{}, &operationMemo{summaries: make(map[string]*summaryOnce)})
}

func (r *Resolver) backupPricePerGB(ctx context.Context) (money.Cents, error) {
	return pricelist.BackupPricePerGB(ctx, r.db(ctx))
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
// resellers when there is one, else once per reseller and operation (a list
// of licenses asking for each license's reseller's summary names the same
// few resellers many times).
func (r *Resolver) summary(ctx context.Context, resellerID string) (*accounts.Summary, error) {
	m, ok := ctx.Value(memoKey{}).(*operationMemo)
	if !ok {
		return accounts.Summarize(ctx, r.db(ctx), resellerID)
	}
	m.mu.Lock()
	if !m.summarized && len(m.listed) > 0 {
		all, err := accounts.SummarizeMany(ctx, r.db(ctx), m.listed)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		for id, s := range all {
			done := &summaryOnce{summary: s}
			done.once.Do(func() {})
			m.summaries[id] = done
		}
		m.summarized = true
	}
	entry, ok := m.summaries[resellerID]
	if !ok {
		entry = &summaryOnce{}
		m.summaries[resellerID] = entry
	}
	m.mu.Unlock()
	entry.once.Do(func() { entry.summary, entry.err = accounts.Summarize(ctx, r.db(ctx), resellerID) })
	return entry.summary, entry.err
}
