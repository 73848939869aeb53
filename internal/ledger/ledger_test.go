package ledger_test

import (
	"context"
	"sort"
	"sync"
	"testing"

	"clnd/ent"
	"clnd/ent/transaction"
	"clnd/internal/apitest"
	"clnd/internal/ledger"
	"clnd/internal/money"
	"clnd/internal/pgtest"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Many writers post to one reseller at once; afterwards the balance equals
// the sum of the transactions and every balanceAfter is a distinct step of
// one serial history.
func TestConcurrentPostsKeepBalanceEqualToSum(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("hammer")
		ctx := viewer.SystemContext(e.Ctx())
		const writers, each = 20, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					amount := money.Cents(100 + w) // credits
					if i%2 == 1 {
						amount = -money.Cents(37 + i) // debits, balance may go negative
					}
					errs <- post(ctx, e.DB.Client, r.ID, amount)
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		txs, err := e.DB.Client.Transaction.Query().Where(transaction.ResellerID(r.ID)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(txs) != writers*each+1 { // + the registration deposit
			t.Fatalf("%d transactions, want %d", len(txs), writers*each+1)
		}
		// IDs are made inside the row lock, so ID order is the serial order:
		// every balanceAfter must be the previous one plus the amount.
		sort.Slice(txs, func(i, j int) bool { return txs[i].ID < txs[j].ID })
		var sum money.Cents
		for i, tx := range txs {
			sum += tx.Amount
			if tx.BalanceAfter != sum {
				t.Fatalf("transaction %d: balanceAfter %s, but the running sum is %s", i, tx.BalanceAfter, sum)
			}
		}
		balance, err := ledger.Balance(ctx, e.DB.Client, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if balance != sum {
			t.Fatalf("balance %s != Σ transactions %s", balance, sum)
		}
	})
}

func post(ctx context.Context, client *ent.Client, resellerID string, amount money.Cents) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	_, err = ledger.Post(ctx, tx, ledger.Entry{ResellerID: resellerID, Kind: transaction.KindADJUSTMENT, Amount: amount, Description: "test"})
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func TestZeroAmountIsRefused(t *testing.T) {
	e := apitest.New(t, "sqlite")
	r := e.Register("zero")
	if err := post(viewer.SystemContext(e.Ctx()), e.DB.Client, r.ID, 0); err == nil {
		t.Fatal("a zero-amount transaction was posted")
	}
}
