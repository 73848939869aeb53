package store

import (
	"context"

	"clnd/ent"
)

// InTx runs fn in a transaction of its own: committed when fn succeeds,
// rolled back when it fails.
func InTx(ctx context.Context, client *ent.Client, fn func(*ent.Tx) error) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
