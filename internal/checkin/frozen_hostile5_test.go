package checkin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/server"
)

// PostgreSQL frozen (SIGSTOP: connections open, nothing answered) while
// both writers hold a batch and more check-ins queue behind them, then the
// check-in service is closed:
//
//   - every check-in sent while frozen is answered 503 UNAVAILABLE within
//     the answer timeout (plus slack), none hangs, none is answered 200;
//   - Close returns within its bound although both writers are stuck;
//   - a check-in after Close is answered 503 at once and is never written,
//     not even once the database answers again and the queue is drained;
//   - after the thaw the flusher finishes (a second Close returns at once),
//     and what was answered 200 before the freeze is still there
//     (lastCheckIn never went back).
func TestHostile5FrozenWithBothWritersHeldThenClose(t *testing.T) {
	const answerTimeout = 2 * time.Second
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.AnswerTimeout = answerTimeout }))
	r := e.Register("alice")
	ips := []string{"93.184.216.91", "93.184.216.92", "93.184.216.93"}
	for _, ip := range ips {
		e.AddLicense(r.Token, ip, "KERNELCARE", "")
	}
	before := map[string]time.Time{}
	for _, ip := range ips {
		before[ip] = ok(t, e.LeanCheckInFrom(ip, "before")).At
	}

	type answer struct {
		status int
		code   string
		took   time.Duration
		raw    string
	}
	client := &http.Client{Timeout: 60 * time.Second}
	send := func(ip, hostname string) answer {
		b, _ := json.Marshal(map[string]string{"hostname": hostname})
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/v1/checkin", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", ip)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return answer{took: time.Since(start), raw: err.Error()}
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, took: time.Since(start), raw: string(raw)}
		var out struct{ Errors []apitest.Error }
		if json.Unmarshal(raw, &out) == nil && len(out.Errors) > 0 {
			a.code, _ = out.Errors[0].Extensions["code"].(string)
		}
		return a
	}
	bound := answerTimeout + 3*time.Second
	check := func(what string, a answer) {
		t.Helper()
		if a.status != http.StatusServiceUnavailable || a.code != "UNAVAILABLE" || a.took > bound {
			t.Errorf("%s: answered %d %s after %v (bound %v): %s", what, a.status, a.code, a.took, bound, a.raw)
		}
	}

	pg.Freeze()
	var wg sync.WaitGroup
	answers := make([]answer, 26)
	// One batch for each writer, then check-ins queued behind them.
	for i := range answers {
		if i < 2 {
			time.Sleep(200 * time.Millisecond)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = send(ips[i%2], fmt.Sprintf("frozen-%d", i))
		}()
	}
	time.Sleep(300 * time.Millisecond)
	closed := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		e.Instance.CheckIns().Close()
		closed <- time.Since(start)
	}()
	wg.Wait()
	for i, a := range answers {
		check(fmt.Sprintf("check-in %d while frozen", i), a)
	}
	select {
	case took := <-closed:
		t.Logf("Close returned after %v with both writers held", took)
	case <-time.After(bound + 5*time.Second):
		t.Fatal("Close did not return while the database was frozen")
	}
	afterClose := send(ips[2], "after-close")
	check("a check-in after Close", afterClose)
	if afterClose.took > time.Second {
		t.Errorf("a check-in after Close waited %v", afterClose.took)
	}

	pg.Thaw()
	// The held batches and the queue are written now; the flusher ends.
	deadline := time.Now().Add(30 * time.Second)
	for {
		start := time.Now()
		e.Instance.CheckIns().Close()
		if time.Since(start) < answerTimeout/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not finish after the thaw")
		}
	}
	got := lastCheckIns(t, e, r.Token)
	for _, ip := range ips {
		l := got[ip+" KERNELCARE"]
		if l.LastCheckIn == nil || l.LastCheckIn.Before(before[ip]) {
			t.Errorf("%s: lastCheckIn %v, before the freeze it was answered %v", ip, l.LastCheckIn, before[ip])
		}
	}
	if l := got[ips[2]+" KERNELCARE"]; l.Hostname != "before" {
		t.Errorf("%s: the check-in refused after Close was written: hostname %q", ips[2], l.Hostname)
	}
	for _, ip := range ips[:2] {
		t.Logf("%s after the thaw: %q", ip, got[ip+" KERNELCARE"].Hostname)
	}
}
