package checkin_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/catalog"
	"clnd/internal/checkin"
	"clnd/internal/licensing"
	"clnd/internal/server"
	"clnd/internal/viewer"
)

// An instance's two writers must not deadlock each other. Sorting a batch's
// keys does not fix the order in which its statement locks rows: that is
// the plan's, and PostgreSQL plans the prepared statement for each batch's
// arrays (a custom plan) until it settles on a generic one. A batch of a
// few addresses is a nested loop over the sorted array (sorted order); one
// of about a hundred is a hash join that scans the table (the rows'
// physical order). Here the rows were added Y, W, X (physical order) and
// sort X < W < Y; another transaction holds W. Batch A (a hundred
// addresses, Y, W and X among them) locks Y and waits for W; batch B (X, W,
// Y) locks X and waits for W. Once W is let go, A takes it and waits for X,
// B for W: a deadlock, which PostgreSQL breaks only after its
// deadlock_timeout (1 s), and the victim's check-ins wait for it (review
// repro; three in a row answer the agents an error).
func TestReview5TwoWritersOfOneInstanceDoNotDeadlock(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.MaxDelay = 300 * time.Millisecond }))
	r := e.Register("alice")
	const x, w, y = "93.184.216.71", "93.184.216.72", "93.184.216.73"
	for _, a := range []string{y, w, x} { // physical order Y, W, X
		e.AddLicense(r.Token, a, "KERNELCARE", "")
	}
	// A table large enough that a batch of a hundred addresses is a hash
	// join over it rather than a hundred index lookups.
	const filler = 2000
	ctx := viewer.SystemContext(e.Ctx())
	tx, err := e.DB.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range filler {
		if _, err := licensing.CreateIPLicense(ctx, tx, licensing.NewIPLicense{
			ResellerID: r.ID, IP: ip(i), Type: catalog.KernelCare, AddedAt: apitest.Start,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.SQL.Exec(`ANALYZE ip_licenses`); err != nil {
		t.Fatal(err)
	}
	deadlocks := func() (n int64) {
		if err := e.DB.SQL.QueryRow(`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks()

	hold, err := e.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	if _, err := hold.Exec(`SELECT 1 FROM ip_licenses WHERE ip = $1 FOR UPDATE`, w); err != nil {
		t.Fatal(err)
	}

	svc := e.Instance.CheckIns()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	var lastAnswer time.Time
	checkIn := func(addr, host string) {
		defer wg.Done()
		_, err := svc.CheckIn(context.Background(), checkin.Request{Addr: netip.MustParseAddr(addr), Hostname: host, At: time.Now()})
		mu.Lock()
		defer mu.Unlock()
		lastAnswer = time.Now()
		if err != nil {
			failed = append(failed, err)
		}
	}
	batchA := []string{y, w, x}
	for i := range 97 {
		batchA = append(batchA, ip(i*(filler/97)))
	}
	for _, a := range batchA {
		wg.Add(1)
		go checkIn(a, "a")
	}
	waiting(t, e, 1, true) // batch A holds Y and waits for W
	for _, a := range []string{x, w, y} {
		wg.Add(1)
		go checkIn(a, "b")
	}
	waiting(t, e, 2, false) // batch B holds X and waits for W (unless it waits for A)
	released := time.Now()
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	took := lastAnswer.Sub(released)
	if err := errors.Join(failed...); err != nil {
		t.Fatalf("check-ins answered errors: %v", err)
	}
	// The statistics are reported when a backend's transaction ends; give
	// them a moment.
	time.Sleep(700 * time.Millisecond)
	if n := deadlocks() - before; n > 0 || took > 800*time.Millisecond {
		t.Fatalf("the instance's two batches deadlocked (%d deadlocks); the last check-in was answered %v after the row was let go",
			n, took.Round(time.Millisecond))
	}
	t.Logf("answered %v after the row was let go", took.Round(time.Millisecond))
}

// waiting waits until n check-in statements wait for a lock: at most 5 s
// when it must (then it fails the test), else 1.5 s.
func waiting(t *testing.T, e *apitest.Env, n int, must bool) {
	t.Helper()
	deadline := time.Now().Add(1500 * time.Millisecond)
	if must {
		deadline = time.Now().Add(5 * time.Second)
	}
	for {
		var got int
		if err := e.DB.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE 'WITH async%'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			time.Sleep(100 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			if must {
				t.Fatalf("%d check-in statements wait for a lock, want %d", got, n)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
