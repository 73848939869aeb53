package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/server"
)

// TestHostileThousandsOfCheckInsWhileFrozen: 2000 agents check in at once
// while PostgreSQL is frozen, with a queue small enough (MaxBatch 20: 80
// places) that most of them never get into it. Every one is answered 503
// UNAVAILABLE within the answer timeout (plus scheduling slack), the
// goroutines they held are given back, and after the thaw each check-in
// that was queued is written at most once: its event (each carries a
// hostname of its own) arrives at most once, every event is one of those
// sent, and no license's lastCheckIn goes backwards.
func TestHostileThousandsOfCheckInsWhileFrozen(t *testing.T) {
	const answerTimeout = 2 * time.Second
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) {
			c.CheckInBatch.AnswerTimeout = answerTimeout
			c.CheckInBatch.MaxBatch = 20
		}))
	seller := e.Register("thousands-frozen")
	const licenses = 10
	ip := func(i int) string { return fmt.Sprintf("203.0.113.%d", 140+i) }
	for i := range licenses {
		e.AddLicense(seller.Token, ip(i), "KERNELCARE", "")
	}
	sub := e.SubscribeSSE(seller.Token, `subscription { checkIns { hostname ip } }`, nil)
	for i := range licenses {
		if r := e.LeanCheckInFrom(ip(i), "before.example"); r.Status != http.StatusOK {
			t.Fatalf("check-in before the freeze: %d %s", r.Status, r.Raw)
		}
	}
	for range licenses {
		if _, ok := sub.Next(10 * time.Second); !ok {
			t.Fatal("an event of the check-ins before the freeze did not arrive")
		}
	}
	lastCheckIns := func() map[string]time.Time {
		var out struct {
			IPLicenses struct {
				Edges []struct {
					Node struct {
						IP          string
						LastCheckIn time.Time
					}
				}
			}
		}
		e.Query(seller.Token, `{ ipLicenses(first: 100) { edges { node { ip lastCheckIn } } } }`, nil, &out)
		m := map[string]time.Time{}
		for _, ed := range out.IPLicenses.Edges {
			m[ed.Node.IP] = ed.Node.LastCheckIn
		}
		return m
	}
	before := lastCheckIns()
	baseline := runtime.NumGoroutine()

	pg.Freeze()
	const agents = 2000
	// One connection per check-in, closed with its answer, as most agents
	// do: no idle connection's goroutines to count.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 60 * time.Second}
	statuses := make([]int, agents)
	took := make([]time.Duration, agents)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"hostname":"h%d.example"}`, i)
			req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/v1/checkin", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", ip(i%licenses))
			start := time.Now()
			resp, err := client.Do(req)
			took[i] = time.Since(start)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	t.Logf("%d check-ins answered in %v", agents, time.Since(began).Round(time.Millisecond))
	count := map[int]int{}
	var slowest time.Duration
	for i, s := range statuses {
		count[s]++
		slowest = max(slowest, took[i])
	}
	if count[http.StatusServiceUnavailable] != agents {
		t.Errorf("answers while frozen: %v, want all %d 503", count, agents)
	}
	// The bound is per check-in; 2000 requests on two cores add their
	// scheduling to it.
	if slowest > answerTimeout+8*time.Second {
		t.Errorf("the slowest check-in was answered after %v (answer timeout %v)", slowest, answerTimeout)
	}
	client.CloseIdleConnections()
	// While the database is frozen, the check-in writer keeps up to 64
	// batches waiting for the held one that shares their rows, a goroutine
	// each (checkin's maxWaiting): bounded, and given back after the thaw
	// (checked below).
	const waitingBatches = 64
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline+50+waitingBatches && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline+50+waitingBatches {
		var dump strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Errorf("%d goroutines after every check-in was answered, %d before the freeze:\n%s", n, baseline, dump.String())
	}

	pg.Thaw()
	// What was queued is written now; poll lastCheckIn as it moves.
	seen := map[string]int{}
	prev := before
	quiet := time.Now().Add(5 * time.Second)
	for time.Now().Before(quiet) {
		raw, ok := sub.Next(500 * time.Millisecond)
		if ok {
			var ev struct {
				Data struct{ CheckIns struct{ Hostname, IP string } }
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			h := ev.Data.CheckIns.Hostname
			seen[h]++
			if seen[h] > 1 {
				t.Errorf("the check-in %s (%s) was announced %d times", h, ev.Data.CheckIns.IP, seen[h])
			}
			if !strings.HasPrefix(h, "h") {
				t.Errorf("an event for a check-in nobody sent after the freeze: %s", raw)
			}
			quiet = time.Now().Add(5 * time.Second)
		}
		now := lastCheckIns()
		for addr, at := range now {
			if at.Before(prev[addr]) {
				t.Errorf("lastCheckIn of %s went backwards: %v then %v", addr, prev[addr], at)
			}
		}
		prev = now
	}
	t.Logf("after the thaw: %d events of distinct check-ins", len(seen))
	deadline = time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline+50 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline+50 {
		var dump strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Errorf("%d goroutines after the thaw, %d before the freeze:\n%s", n, baseline, dump.String())
	}
	if r := e.LeanCheckInFrom(ip(0), "after.example"); r.Status != http.StatusOK {
		t.Fatalf("check-in after the thaw: %d %s", r.Status, r.Raw)
	}
}
