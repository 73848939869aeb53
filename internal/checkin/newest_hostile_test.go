package checkin_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// A check-in taken earlier but written later (its instance's flusher was
// busy) must not overwrite a newer check-in of the same host written by
// another instance: lastCheckIn never goes backwards (review repro, fixed
// in 5da1363).
func TestHostileOlderCheckInDoesNotOverwriteNewer(t *testing.T) {
	// One writer: a second would write the older check-in at once.
	first := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.Writers = 1 }))
	second := apitest.Reopen(t, first, apitest.WithoutShadow())
	a := first.Register("alice")
	first.AddLicense(a.Token, "93.184.216.31", "KERNELCARE", "")
	first.AddLicense(a.Token, "93.184.216.32", "KERNELCARE", "")

	// Hold the first host's row so that first's flusher waits on it.
	tx, err := first.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM ip_licenses WHERE ip = '93.184.216.31' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); first.LeanCheckInFrom("93.184.216.31", "blocked") }()
	time.Sleep(200 * time.Millisecond)
	var older *apitest.LeanCheckIn
	go func() { defer wg.Done(); older = first.LeanCheckInFrom("93.184.216.32", "older") }()
	time.Sleep(200 * time.Millisecond)
	newer := ok(t, second.LeanCheckInFrom("93.184.216.32", "newer"))
	_ = tx.Rollback()
	wg.Wait()
	ok(t, older)
	if !older.At.Before(newer.At) {
		t.Fatalf("older %v, newer %v", older.At, newer.At)
	}
	got := lastCheckIns(t, first, a.Token)["93.184.216.32 KERNELCARE"]
	if got.LastCheckIn == nil || newer.At.Sub(*got.LastCheckIn) > time.Microsecond || got.Hostname != "newer" {
		t.Fatalf("lastCheckIn %v hostname %q; the newest check-in was at %v (%q), an older one at %v", got.LastCheckIn, got.Hostname, newer.At, "newer", older.At)
	}
}
