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

// On PostgreSQL two batches are written at once: a batch held by a locked
// row does not hold the next batch, and the events still reach subscribers
// in the order the batches were taken. (The batch after that waits: the
// second writer is not free until the held batch has handed its events.)
func TestASecondWriterAnswersPastAHeldBatchAndEventsKeepTheirOrder(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow())
	a := e.Register("alice")
	e.AddLicense(a.Token, "93.184.216.41", "KERNELCARE", "")
	e.AddLicense(a.Token, "93.184.216.42", "KERNELCARE", "")
	sub := e.Subscribe(a.Token, `subscription { checkIns { ip hostname } }`, nil)

	release := holdRows(t, e, "93.184.216.41")
	held := make(chan *apitest.LeanCheckIn, 1)
	go func() { held <- e.LeanCheckInFrom("93.184.216.41", "held") }()
	time.Sleep(300 * time.Millisecond) // its batch is waiting on the row

	answered := make(chan *apitest.LeanCheckIn, 1)
	go func() { answered <- e.LeanCheckInFrom("93.184.216.42", "free") }()
	select {
	case c := <-answered:
		ok(t, c)
	case <-time.After(3 * time.Second):
		t.Fatal("a check-in of another host waited for the held batch: one writer only")
	}
	select {
	case c := <-held:
		t.Fatalf("the held check-in was answered before its row was released: %s", c.Raw)
	default:
	}
	if m, got := sub.Next(300 * time.Millisecond); got {
		t.Fatalf("an event overtook the held batch's: %s", m)
	}
	release()
	ok(t, <-held)
	for _, want := range []string{"held", "free"} {
		m, got := sub.Next(5 * time.Second)
		if !got {
			t.Fatalf("no event for %q", want)
		}
		var ev struct {
			Data struct {
				CheckIns struct{ IP, Hostname string }
			}
		}
		if err := json.Unmarshal(m, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Data.CheckIns.Hostname != want {
			t.Fatalf("event %s, want the %q check-in's next", m, want)
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
