package checkin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// holdRows locks the license rows at the addresses until the returned
// function is called (it rolls back).
func holdRows(t *testing.T, e *apitest.Env, ips ...string) func() {
	t.Helper()
	tx, err := e.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		if _, err := tx.Exec(`SELECT 1 FROM ip_licenses WHERE ip = $1 FOR UPDATE`, ip); err != nil {
			_ = tx.Rollback()
			t.Fatal(err)
		}
	}
	var once sync.Once
	release := func() { once.Do(func() { _ = tx.Rollback() }) }
	t.Cleanup(release)
	return release
}

// On PostgreSQL two batches are written at once, and a batch held by a
// row another transaction keeps locked holds only its own check-ins: the
// batches of other hosts taken after it are written, answered and announced
// meanwhile (with one writer, or two whose events waited for the held
// batch's without bound, the third host waited for the held one), also when
// the held host checks in again (its batch waits for the held one without
// holding a writer), and the held host's events keep their order.
func TestAHeldBatchHoldsOnlyItsOwnHosts(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.AnswerTimeout = 5 * time.Second }))
	a := e.Register("alice")
	for _, ip := range []string{"93.184.216.41", "93.184.216.42", "93.184.216.43", "93.184.216.44"} {
		e.AddLicense(a.Token, ip, "KERNELCARE", "")
	}
	sub := e.Subscribe(a.Token, `subscription { checkIns { ip hostname } }`, nil)
	next := func() (ip, hostname string) {
		t.Helper()
		m, got := sub.Next(5 * time.Second)
		if !got {
			t.Fatal("no event")
		}
		var ev struct {
			Data struct {
				CheckIns struct{ IP, Hostname string }
			}
		}
		if err := json.Unmarshal(m, &ev); err != nil {
			t.Fatal(err)
		}
		return ev.Data.CheckIns.IP, ev.Data.CheckIns.Hostname
	}

	release := holdRows(t, e, "93.184.216.41")
	held := make(chan *apitest.LeanCheckIn, 1)
	go func() { held <- e.LeanCheckInFrom("93.184.216.41", "held") }()
	time.Sleep(300 * time.Millisecond) // its batch is waiting on the row
	again := make(chan *apitest.LeanCheckIn, 1)
	go func() { again <- e.LeanCheckInFrom("93.184.216.41", "again") }()
	time.Sleep(100 * time.Millisecond)
	for _, ip := range []string{"93.184.216.42", "93.184.216.43", "93.184.216.44"} {
		began := time.Now()
		c := e.LeanCheckInFrom(ip, "free")
		if c.Status != http.StatusOK || time.Since(began) > 2*time.Second {
			t.Fatalf("%s, taken after the held batch, answered %d after %v: %s", ip, c.Status, time.Since(began).Round(time.Millisecond), c.Raw)
		}
		if got, hostname := next(); got != ip || hostname != "free" {
			t.Fatalf("event of %s %q, want %s's while the held batch waits", got, hostname, ip)
		}
	}
	select {
	case c := <-held:
		t.Fatalf("the held check-in was answered before its row was released: %s", c.Raw)
	case c := <-again:
		t.Fatalf("a check-in of the held host was answered before the held batch: %s", c.Raw)
	default:
	}
	release()
	ok(t, <-held)
	ok(t, <-again)
	for _, want := range []string{"held", "again"} {
		if ip, hostname := next(); ip != "93.184.216.41" || hostname != want {
			t.Fatalf("event of %s %q, want the %q check-in's", ip, hostname, want)
		}
	}
}

// A batch that PostgreSQL ends as a deadlock's victim is written again: its
// check-ins are answered, not refused. Here the cycle is the batch (which
// locks .51, then waits for .52) and a transaction that holds .52 and then
// asks for .51.
func TestADeadlockedBatchIsWrittenAgain(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.MaxDelay = 300 * time.Millisecond }))
	a := e.Register("alice")
	e.AddLicense(a.Token, "93.184.216.51", "KERNELCARE", "")
	e.AddLicense(a.Token, "93.184.216.52", "KERNELCARE", "")

	tx, err := e.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The batch's side, which waits first, finds the cycle (after its 1 s).
	if _, err := tx.Exec(`SET LOCAL deadlock_timeout = '20s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT 1 FROM ip_licenses WHERE ip = '93.184.216.52' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	answers := make([]*apitest.LeanCheckIn, 2)
	for i, ip := range []string{"93.184.216.51", "93.184.216.52"} {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = e.LeanCheckInFrom(ip, "deadlocked") }()
	}
	time.Sleep(800 * time.Millisecond) // one batch of both, waiting for .52
	if _, err := tx.Exec(`UPDATE ip_licenses SET hostname = hostname WHERE ip = '93.184.216.51'`); err != nil {
		t.Fatalf("the batch was not the deadlock's victim: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, c := range answers {
		if c.Status != http.StatusOK {
			t.Fatalf("a check-in of the deadlocked batch answered %d: %s", c.Status, c.Raw)
		}
	}
	got := lastCheckIns(t, e, a.Token)
	for _, k := range []string{"93.184.216.51 KERNELCARE", "93.184.216.52 KERNELCARE"} {
		if got[k].LastCheckIn == nil || got[k].Hostname != "deadlocked" {
			t.Fatalf("%s: %+v", k, got[k])
		}
	}
}
