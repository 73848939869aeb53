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
// connections on the same PostgreSQL in the same run. It reports both rates
// and their ratio (the target is ≥ 3). Run it with `make bench`.
func BenchmarkCheckInsVsSingleRowUpdates(b *testing.B) {
	const clients, licenses = 64, 2000
	phase := 3 * time.Second
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

	updates := run(clients, phase, func(worker, i int) error {
		_, err := e.DB.SQL.ExecContext(context.Background(),
			`UPDATE ip_licenses SET last_check_in = $1 WHERE id = $2`, time.Now(), ids[(worker*7919+i)%licenses])
		return err
	})

	transport := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: transport}
	body := []byte(`{"query":"mutation { checkIn(input: {hostname: \"bench\"}) { licensed } }"}`)
	checkIns := run(clients, phase, func(worker, i int) error {
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", ip((worker*7919+i)%licenses))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK || bytes.Contains(buf.Bytes(), []byte(`"errors"`)) {
			return fmt.Errorf("check-in: %d %s", resp.StatusCode, buf.Bytes())
		}
		return nil
	})
	batches, written := e.Instance.CheckIns().Stats()
	b.ReportMetric(float64(written)/float64(batches), "checkins/batch")
	b.ReportMetric(updates, "updates/s")
	b.ReportMetric(checkIns, "checkins/s")
	b.ReportMetric(checkIns/updates, "ratio")
	b.Logf("B3: %.0f check-ins/s over HTTP vs %.0f single-row UPDATEs/s (%d clients): ratio %.2f (target ≥ 3); %.1f check-ins per write transaction",
		checkIns, updates, clients, checkIns/updates, float64(written)/float64(batches))
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
