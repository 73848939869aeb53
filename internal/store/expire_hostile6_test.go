package store_test

// Hostile tests of the expiring PostgreSQL connections (expire.go): a
// connection expired as its work finishes must not hurt whoever uses the
// pool next, and work cut short on a frozen database (a COMMIT, rows, the
// rollback database/sql does when a transaction's context ends) lets go
// within its bounds, after which the pool serves again and no goroutine is
// left behind.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/pgtest"
	"clnd/internal/store"
)

func openStoppable(t *testing.T) (*pgtest.Stoppable, *store.DB) {
	t.Helper()
	pg := pgtest.StartStoppable(t)
	db, err := store.Open(context.Background(), pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return pg, db
}

// healthyWithin waits until the pool answers a query again.
func healthyWithin(t *testing.T, db *store.DB, bound time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var one int
		err := db.SQL.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
		cancel()
		if err == nil && one == 1 {
			return time.Since(began)
		}
		if time.Since(began) > bound {
			t.Fatalf("the pool does not answer %v after the thaw: %v", bound, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// goroutinesBackWithin waits until the goroutines are back to baseline
// (plus slack) and fails the test with a dump if they are not.
func goroutinesBackWithin(t *testing.T, baseline int, bound time.Duration) {
	t.Helper()
	const slack = 5
	deadline := time.Now().Add(bound)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+slack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines %v after the thaw, %d before:\n%s", n, bound, baseline, buf)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Statements and transactions whose deadlines land right around the moment
// the database answers, while the database freezes for about the expiry's
// grace (250 ms) again and again: answers arrive just as sockets are
// expired. A call that fails must have had its own deadline pass (none is
// failed by a connection another call's expiry broke), no call returns
// another call's data, and once the database is left alone the pool
// answers at once.
func TestHostileExpiryAroundCompletionHurtsNoOneElse(t *testing.T) {
	pg, db := openStoppable(t)
	ctx := context.Background()
	if _, err := db.SQL.ExecContext(ctx, `CREATE TABLE h6 (k bigint PRIMARY KEY, v text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const run = 8 * time.Second
	stop := make(chan struct{})
	var freezes atomic.Int64
	var disrupt sync.WaitGroup
	disrupt.Add(1)
	go func() {
		defer disrupt.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(50+rand.IntN(400)) * time.Millisecond):
			}
			pg.Freeze()
			freezes.Add(1)
			time.Sleep(time.Duration(180+rand.IntN(140)) * time.Millisecond) // around the grace
			pg.Thaw()
		}
	}()

	type tally struct{ ok, ownDeadline, foreign, wrong int64 }
	var tl tally
	var mu sync.Mutex
	var foreign []string
	note := func(err error, cctx context.Context, what string) {
		switch {
		case err == nil:
			atomic.AddInt64(&tl.ok, 1)
		case cctx.Err() != nil:
			atomic.AddInt64(&tl.ownDeadline, 1)
		default:
			atomic.AddInt64(&tl.foreign, 1)
			mu.Lock()
			if len(foreign) < 10 {
				foreign = append(foreign, fmt.Sprintf("%s: %v", what, err))
			}
			mu.Unlock()
		}
	}
	var wrongs []string
	wrong := func(s string) {
		atomic.AddInt64(&tl.wrong, 1)
		mu.Lock()
		if len(wrongs) < 10 {
			wrongs = append(wrongs, s)
		}
		mu.Unlock()
	}

	var wg sync.WaitGroup
	var seq atomic.Int64
	end := time.Now().Add(run)
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				timeout := time.Duration(5+rand.IntN(400)) * time.Millisecond
				cctx, cancel := context.WithTimeout(ctx, timeout)
				n := seq.Add(1)
				switch w % 3 {
				case 0: // a statement
					var got int64
					var text string
					err := db.SQL.QueryRowContext(cctx, `SELECT $1::bigint, repeat('x', ($1 % 97)::int)`, n).Scan(&got, &text)
					note(err, cctx, "a statement")
					if err == nil && (got != n || len(text) != int(n%97)) {
						wrong(fmt.Sprintf("asked for %d, got %d and %d bytes", n, got, len(text)))
					}
				case 1: // a transaction writing and reading back
					err := func() error {
						tx, err := db.SQL.BeginTx(cctx, nil)
						if err != nil {
							return err
						}
						defer tx.Rollback() //nolint:errcheck
						if _, err := tx.ExecContext(cctx, `INSERT INTO h6 (k, v) VALUES ($1, $2)`, n, fmt.Sprint("v", n)); err != nil {
							return err
						}
						var v string
						if err := tx.QueryRowContext(cctx, `SELECT v FROM h6 WHERE k = $1`, n).Scan(&v); err != nil {
							return err
						}
						if v != fmt.Sprint("v", n) {
							wrong(fmt.Sprintf("row %d read back as %q in its transaction", n, v))
						}
						return tx.Commit()
					}()
					note(err, cctx, "a transaction")
				case 2: // rows read to the end
					rows, err := db.SQL.QueryContext(cctx, `SELECT g FROM generate_series($1::bigint, $1::bigint + 199) g`, n)
					if err == nil {
						want := n
						for rows.Next() {
							var g int64
							if err = rows.Scan(&g); err != nil {
								break
							}
							if g != want {
								wrong(fmt.Sprintf("row %d of the series from %d reads %d", want-n, n, g))
							}
							want++
						}
						if err == nil {
							err = rows.Err()
						}
						_ = rows.Close()
						if err == nil && want != n+200 {
							wrong(fmt.Sprintf("the series from %d ended after %d rows without an error", n, want-n))
						}
					}
					note(err, cctx, "rows")
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	close(stop)
	disrupt.Wait()
	pg.Thaw()
	t.Logf("%d freezes; %d calls answered, %d failed at their own deadline, %d failed before it, %d wrong answers",
		freezes.Load(), tl.ok, tl.ownDeadline, tl.foreign, tl.wrong)
	for _, s := range foreign {
		t.Errorf("failed with its deadline still ahead: %s", s)
	}
	for _, s := range wrongs {
		t.Errorf("wrong data: %s", s)
	}
	if tl.ok == 0 || tl.ownDeadline == 0 {
		t.Errorf("the run did not mix answers (%d) and deadlines (%d)", tl.ok, tl.ownDeadline)
	}
	took := healthyWithin(t, db, 5*time.Second)
	t.Logf("the pool answered %v after the last thaw", took)
	// Every committed row is whole.
	var bad int
	if err := db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM h6 WHERE v <> 'v' || k`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d rows not as written (%v)", bad, err)
	}
}

// Work cut short on a frozen database: a COMMIT whose context ends while
// the database does not answer, rows whose context ends in the middle of
// their reading, and the rollback database/sql does when the context of an
// idle transaction ends. Each lets go within its deadline plus the grace
// (and scheduling slack), the pool serves again within seconds of the
// thaw, and the goroutines come back to what they were.
func TestHostileFrozenCommitRowsAndRollbackLetGo(t *testing.T) {
	pg, db := openStoppable(t)
	ctx := context.Background()
	if _, err := db.SQL.ExecContext(ctx, `CREATE TABLE h6 (k bigint PRIMARY KEY, v text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// Open connections for the pool.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = db.SQL.ExecContext(ctx, `SELECT pg_sleep(0.05)`)
		}()
	}
	wg.Wait()
	runtime.GC()
	baseline := runtime.NumGoroutine()
	const timeout = 500 * time.Millisecond
	const bound = timeout + 250*time.Millisecond + 1500*time.Millisecond // deadline + grace + slack

	for round := range 3 {
		type outcome struct {
			what string
			err  error
			took time.Duration
		}
		results := make(chan outcome, 16)
		ready := make(chan struct{}, 16)
		var started int
		// COMMIT sent to a frozen database: its context ends while it waits.
		started++
		go func() {
			k := int64(1000 + round)
			cctx, cancel := context.WithTimeout(ctx, 2*timeout)
			defer cancel()
			tx, err := db.SQL.BeginTx(cctx, nil)
			if err == nil {
				_, err = tx.ExecContext(cctx, `INSERT INTO h6 (k, v) VALUES ($1, 'commit')`, k)
			}
			ready <- struct{}{}
			time.Sleep(timeout) // frozen meanwhile
			began := time.Now()
			if err == nil {
				err = tx.Commit()
			}
			results <- outcome{"a COMMIT", err, time.Since(began)}
		}()
		// Rows: some read, then the database freezes and the context ends.
		started++
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 2*timeout)
			defer cancel()
			rows, err := db.SQL.QueryContext(cctx, `SELECT g, repeat('y', 1000) FROM generate_series(1, 200000) g`)
			if err != nil {
				ready <- struct{}{}
				results <- outcome{"rows", err, 0}
				return
			}
			for i := 0; i < 10 && rows.Next(); i++ {
			}
			ready <- struct{}{}
			time.Sleep(timeout)
			began := time.Now()
			for rows.Next() {
			}
			err = rows.Err()
			_ = rows.Close()
			results <- outcome{"rows", err, time.Since(began)}
		}()
		// An idle transaction whose context ends: database/sql rolls it back.
		started++
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 2*timeout)
			defer cancel()
			tx, err := db.SQL.BeginTx(cctx, nil)
			if err == nil {
				_, err = tx.ExecContext(cctx, `INSERT INTO h6 (k, v) VALUES ($1, 'rolled back')`, 2000+round)
			}
			ready <- struct{}{}
			if err != nil {
				results <- outcome{"a rollback", err, 0}
				return
			}
			began := time.Now()
			<-cctx.Done()
			// Commit after the context ended must not hang; the rollback
			// database/sql started runs meanwhile.
			err = tx.Commit()
			results <- outcome{"a rollback", err, time.Since(began)}
		}()
		// A statement started on the frozen database.
		started++
		frozen := make(chan struct{})
		go func() {
			ready <- struct{}{}
			<-frozen
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			began := time.Now()
			_, err := db.SQL.ExecContext(cctx, `SELECT 1`)
			results <- outcome{"a statement", err, time.Since(began)}
		}()
		for range started {
			<-ready
		}
		pg.Freeze()
		close(frozen) // the statement may go
		frozenAt := time.Now()
		for range started {
			select {
			case o := <-results:
				if o.err == nil && o.what != "rows" {
					t.Errorf("round %d: %s on a frozen database succeeded", round, o.what)
				}
				if o.took > bound {
					t.Errorf("round %d: %s let go after %v (bound %v): %v", round, o.what, o.took, bound, o.err)
				}
				t.Logf("round %d: %s: %v after %v", round, o.what, o.err, o.took.Round(time.Millisecond))
			case <-time.After(3*bound + time.Since(frozenAt)):
				t.Fatalf("round %d: work on a frozen database still waits after %v", round, time.Since(frozenAt))
			}
		}
		// Nothing is held: the pool's connections are idle or gone once the
		// rollback database/sql runs by itself has let go too (its grace).
		for held := time.Now(); db.SQL.Stats().InUse != 0; time.Sleep(10 * time.Millisecond) {
			if time.Since(held) > bound {
				t.Errorf("round %d: %d connections still in use while frozen, %v after the work let go",
					round, db.SQL.Stats().InUse, bound)
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
		pg.Thaw()
		took := healthyWithin(t, db, 5*time.Second)
		t.Logf("round %d: the pool answered %v after the thaw", round, took.Round(time.Millisecond))
		var n int
		if err := db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM h6 WHERE k = $1`, 2000+round).Scan(&n); err != nil || n != 0 {
			t.Errorf("round %d: the rolled back row is there (%d, %v)", round, n, err)
		}
		var committed int
		_ = db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM h6 WHERE k = $1`, 1000+round).Scan(&committed)
		t.Logf("round %d: the COMMIT answered with an error wrote its row: %v", round, committed == 1)
	}
	goroutinesBackWithin(t, baseline, 15*time.Second)
	if err := db.SQL.PingContext(ctx); err != nil && !errors.Is(err, sql.ErrConnDone) {
		t.Fatal(err)
	}
}
