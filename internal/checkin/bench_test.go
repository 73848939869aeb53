package checkin_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/catalog"
	"clnd/internal/licensing"
	"clnd/internal/viewer"
)

// BenchmarkCheckInsVsSingleRowUpdates is BENCH.md's B3: check-ins over HTTP
// from 64 concurrent clients, against single-row UPDATE statements from 64
// connections on the same PostgreSQL in the same run. It reports the rates
// of the lean endpoint (POST /v1/checkin) and of the checkIn mutation (the
// hostname as a variable), and each ÷ the UPDATEs (targets: ≥ 3 and ≥ 1.5).
// `make bench` (clnd bench) measures the same in interleaved rounds; this
// one is for profiles: -bench 'CheckIns$' -cpuprofile, or CheckIns/lean and
// CheckIns/graphql for one side alone.
func BenchmarkCheckInsVsSingleRowUpdates(b *testing.B) {
	const clients = 64
	phase := 3 * time.Second
	e, ids := checkInBench(b, clients)
	updates := run(clients, phase, func(worker, i int) error {
		_, err := e.DB.SQL.ExecContext(context.Background(),
			`UPDATE ip_licenses SET last_check_in = $1 WHERE id = $2`, time.Now(), ids[(worker*7919+i)%len(ids)])
		return err
	})
	b.ReportMetric(updates, "updates/s")
	for _, side := range []string{"lean", "graphql"} {
		b0, w0 := e.Instance.CheckIns().Stats()
		rate := run(clients, phase, checkInOver(e, side, clients, len(ids)))
		b1, w1 := e.Instance.CheckIns().Stats()
		b.ReportMetric(rate, side+"/s")
		b.ReportMetric(rate/updates, side+"-ratio")
		b.Logf("B3: %s: %.0f check-ins/s vs %.0f single-row UPDATEs/s (%d clients): ratio %.2f; %.1f check-ins per write transaction",
			side, rate, updates, clients, rate/updates, float64(w1-w0)/float64(b1-b0))
	}
}

// BenchmarkCheckIns runs one side alone, for a profile of just that path.
func BenchmarkCheckIns(b *testing.B) {
	const clients = 64
	for _, side := range []string{"lean", "graphql"} {
		b.Run(side, func(b *testing.B) {
			e, ids := checkInBench(b, clients)
			b.ResetTimer()
			rate := run(clients, 3*time.Second, checkInOver(e, side, clients, len(ids)))
			b.ReportMetric(rate, "checkins/s")
		})
	}
}

// checkInBench is a PostgreSQL instance with licenses on the addresses ip(i).
func checkInBench(b *testing.B, clients int) (*apitest.Env, []string) {
	const licenses = 2000
	e := apitest.New(b, "postgres")
	r := e.Register("bench")
	ctx := viewer.SystemContext(e.Ctx())
	tx, err := e.DB.Client.Tx(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, licenses)
	for i := range ids {
		l, err := licensing.CreateIPLicense(ctx, tx, licensing.NewIPLicense{
			ResellerID: r.ID, IP: ip(i), Type: catalog.KernelCare, AddedAt: apitest.Start,
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = l.ID
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	e.DB.SQL.SetMaxOpenConns(clients + 8)
	return e, ids
}

// checkInOver returns one client's check-in over the lean endpoint or the
// GraphQL mutation, from the address of license (worker*7919+i) % licenses.
func checkInOver(e *apitest.Env, side string, clients, licenses int) func(worker, i int) error {
	transport := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: transport}
	url, body, want := e.Server.URL+"/v1/checkin", []byte(`{"hostname":"bench"}`), []byte(`{"at":`)
	if side == "graphql" {
		url, want = e.Server.URL+"/graphql", []byte(`{"data":`)
		body = []byte(`{"query":"mutation CheckIn($hostname: String) { checkIn(input: {hostname: $hostname}) { licensed } }","variables":{"hostname":"bench"}}`)
	}
	return func(worker, i int) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", ip((worker*7919+i)%licenses))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(buf.Bytes(), want) {
			return fmt.Errorf("check-in: %d %s", resp.StatusCode, buf.Bytes())
		}
		return nil
	}
}

// run calls op from n goroutines for d and returns calls per second.
func run(n int, d time.Duration, op func(worker, i int) error) float64 {
	var count atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if err := op(w, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				count.Add(1)
			}
		}(w)
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		panic(err)
	}
	return float64(count.Load()) / time.Since(start).Seconds()
}

// ip is a public address per license; nothing is ever sent to it.
func ip(i int) string { return fmt.Sprintf("45.%d.%d.1", i/250+1, i%250+1) }
