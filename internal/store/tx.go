package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/lib/pq"

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

// IsDeadlock says that PostgreSQL ended a statement as a deadlock's victim
// (SQLSTATE 40P01).
func IsDeadlock(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "40P01"
}

// DeadlockAttempts is how many times work that PostgreSQL ends as a
// deadlock's victim is run before the deadlock is its answer
// (LockRetrying, the check-in writer).
const DeadlockAttempts = 3

// AfterDeadlock waits before work ended as a deadlock's victim runs again
// (its attempt-th time). The other side of the cycle was waiting for a row
// this side held, and takes it only once its process is scheduled; run
// again at once, this side can take the row back first (an UPDATE takes a
// row whose last locker aborted without queueing for it) and the same cycle
// forms again. On a loaded machine TestADeadlockedBatchIsWrittenAgain saw
// three deadlocks in a row so. A short random wait, longer each attempt,
// lets the other side go first.
func AfterDeadlock(ctx context.Context, attempt int) error {
	wait := time.Duration(attempt) * (10*time.Millisecond + rand.N(30*time.Millisecond))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LockRetrying runs lock, which takes row locks in tx, inside a savepoint,
// and runs it again (up to DeadlockAttempts times, AfterDeadlock between) when PostgreSQL ends it
// as a deadlock's victim. Rows locked in one order here can still meet a
// statement that locks them in the order of its plan (a check-in batch's
// UPDATE): PostgreSQL breaks the cycle by failing one side, and rolling
// back to the savepoint gives up only what lock took, so the other side
// goes on and the transaction is not lost.
func LockRetrying(ctx context.Context, tx *ent.Tx, lock func() error) error {
	for attempt := 1; ; attempt++ {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT lock_retrying"); err != nil {
			return err
		}
		err := lock()
		if err == nil {
			_, err = tx.ExecContext(ctx, "RELEASE SAVEPOINT lock_retrying")
			return err
		}
		if attempt == DeadlockAttempts || !IsDeadlock(err) {
			return err
		}
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT lock_retrying"); rerr != nil {
			return err
		}
		if AfterDeadlock(ctx, attempt) != nil {
			return err
		}
	}
}
