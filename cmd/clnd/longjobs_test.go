package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/store"
)

// Billing a month that has not ended prints the error alone, nothing on
// stdout that reads like a result, and says how to move the sandbox clock
// (issue 13, item 4).
func TestBillRefusesAMonthThatHasNotEnded(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "bill.db")
	thisMonth := time.Now().UTC().Format("2006-01")
	stdout, _, err := runCLI(t, "bill", "--period", thisMonth, "--sandbox", "--database-url", url)
	if err == nil || !strings.Contains(err.Error(), "has not ended") || !strings.Contains(err.Error(), "advanceClock") {
		t.Fatalf("billing %s in sandbox mode answered %v", thisMonth, err)
	}
	if stdout != "" {
		t.Fatalf("a refused run printed %q", stdout)
	}
	t.Logf("clnd: %v", err)
}

// The bench data set keeps balance = Σ transactions, every reseller opening
// with a ledger transaction, and so does billing its last month afterwards;
// neither logs a failure (issue 13, item 5).
func TestSeedBenchKeepsBalanceEqualToTransactions(t *testing.T) {
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			url := apitest.URL(t, backend)
			if _, _, err := runCLI(t, "migrate", "--database-url", url); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := runCLI(t, "seed", "--bench", "--scale", "0.005", "--sandbox", "--database-url", url)
			if err != nil || strings.Contains(stderr, "level=ERROR") {
				t.Fatalf("seed: %v\n%s%s", err, stdout, stderr)
			}
			assertLedgerHolds(t, url, 5)
			lastMonth := time.Now().UTC().AddDate(0, 0, -time.Now().UTC().Day()).Format("2006-01")
			stdout, stderr, err = runCLI(t, "bill", "--period", lastMonth, "--sandbox", "--database-url", url)
			if err != nil || !strings.Contains(stdout, "billed "+lastMonth+": 5 invoices") || strings.Contains(stderr, "level=ERROR") {
				t.Fatalf("bill: %v\n%s%s", err, stdout, stderr)
			}
			assertLedgerHolds(t, url, 5)
		})
	}
}

// assertLedgerHolds checks that every one of the want resellers has
// balance = Σ transactions and opened with a transaction, not a bare balance.
func assertLedgerHolds(t *testing.T, url string, want int) {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var resellers, off, bare int
	err = db.SQL.QueryRow(`SELECT count(*),
		coalesce(sum(CASE WHEN r.balance <> (SELECT coalesce(sum(t.amount), 0) FROM transactions t WHERE t.reseller_id = r.id) THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN NOT EXISTS (SELECT 1 FROM transactions t WHERE t.reseller_id = r.id AND t.kind = 'ADJUSTMENT') THEN 1 ELSE 0 END), 0)
		FROM resellers r`).Scan(&resellers, &off, &bare)
	if err != nil {
		t.Fatal(err)
	}
	if resellers != want || off != 0 || bare != 0 {
		t.Fatalf("%d resellers (want %d): %d with balance ≠ Σ transactions, %d without an opening transaction", resellers, want, off, bare)
	}
}

// A serve that starts while seed --bench is writing does not bill from the
// half-written data set: its scheduler waits for seed's hold, and the month
// seed leaves unbilled is billed whole afterwards (issue 13, item 5). Seen
// failing without the hold: the scheduler invoiced the last month from the
// IP licenses alone.
func TestSeedBenchHoldsTheSchedulerOfAServeStartedMeanwhile(t *testing.T) {
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			url := apitest.URL(t, backend)
			if _, _, err := runCLI(t, "migrate", "--database-url", url); err != nil {
				t.Fatal(err)
			}
			ctx, stopServe := context.WithCancel(context.Background())
			served := make(chan error, 1)
			serveLog := &syncBuffer{}
			// Once seed has written the IP licenses (and not yet the server
			// accounts), a serve starts; seed goes on once its scheduler has
			// looked at the months.
			seedOut := &onLine{prefix: "IP licenses:", do: func() {
				go func() {
					served <- run(ctx, []string{"serve", "--sandbox", "--addr", freeAddr(t), "--database-url", url}, &bytes.Buffer{}, serveLog)
				}()
				deadline := time.Now().Add(60 * time.Second)
				for !strings.Contains(serveLog.String(), "monthly billing") && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}}
			var seedErr bytes.Buffer
			err := run(context.Background(), []string{"seed", "--bench", "--scale", "0.005", "--sandbox", "--database-url", url}, seedOut, &seedErr)
			if err != nil || strings.Contains(seedErr.String(), "level=ERROR") {
				t.Fatalf("seed beside a serve: %v\n%s", err, seedErr.String())
			}
			if !strings.Contains(serveLog.String(), "waits for a hold") {
				t.Errorf("the scheduler did not wait for seed:\n%s", serveLog.String())
			}
			lastMonth := time.Now().UTC().AddDate(0, 0, -time.Now().UTC().Day()).Format("2006-01")
			db, err := store.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			var early int
			if err := db.SQL.QueryRow(`SELECT count(*) FROM invoices WHERE billing_period = $1`, lastMonth).Scan(&early); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if early != 0 {
				t.Errorf("%d invoices for %s were billed while seed was writing", early, lastMonth)
			}
			stdout, stderr, err := runCLI(t, "bill", "--period", lastMonth, "--sandbox", "--database-url", url)
			if err != nil || !strings.Contains(stdout, ": 5 invoices") {
				t.Fatalf("bill after seed: %v\n%s%s", err, stdout, stderr)
			}
			assertLedgerHolds(t, url, 5)
			stopServe()
			if err := <-served; err != nil {
				t.Fatalf("serve: %v\n%s", err, serveLog.String())
			}
		})
	}
}

// onLine is a writer that runs do once, when a line starting with prefix
// has been written.
type onLine struct {
	prefix string
	do     func()
	buf    bytes.Buffer
	done   bool
}

func (o *onLine) Write(p []byte) (int, error) {
	o.buf.Write(p)
	if !o.done && strings.Contains("\n"+o.buf.String(), "\n"+o.prefix) {
		o.done = true
		o.do()
	}
	return len(p), nil
}
