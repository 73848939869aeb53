package graph

import (
	"context"

	"clnd/ent"
	"clnd/internal/removal"
)

// historyEdge resolves an edge declared History in ent/schema (an invoice
// item's license, backup or server account): it reaches the row it names
// even after that row was removed. An eager load (entgql's field collection)
// reads live rows only, like every list, so a row it left out is read again
// by its ID with removal.Include; the compiled read path does the same in one
// statement (internal/sqlgraph, Edge.History).
func historyEdge[T any](ctx context.Context, fk *string, loaded func() (*T, error), query func(context.Context) (*T, error)) (*T, error) {
	if fk == nil {
		return nil, nil
	}
	if v, err := loaded(); err == nil && v != nil {
		return v, nil
	}
	v, err := query(removal.Include(ctx))
	if ent.IsNotFound(err) {
		return nil, nil // billed before removal kept rows (deleted then)
	}
	return v, err
}
