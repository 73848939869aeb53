package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/internal/apitest"
	"clnd/internal/seed"
	"clnd/internal/server"
	"clnd/internal/store"
)

// The README's example queries, which the cost tests and benchmarks run.
const (
	partnerInvoicesQuery = `{
  invoices(first: 50) { edges { node { number type total periodStart periodEnd
    lines { title quantity unitPrice subtotal product { type }
      items { description periodStart periodEnd amount license { ip backup { sizeGB } } serverAccount { login } } } } } }
}`
	dashboardQuery = `{
  viewer { role reseller { login balance status autopayment { mode minimumCharge }
    summary { totalLicenses unusedLicenses licenseCostPerMonth ipLicenses } } }
  serverAccounts(first: 10) { edges { node { login licenseLimit usedLicenses keys { token usage } } } }
}`
)

// statements counts what a second clnd instance, serving the same database
// as an apitest.Env, sends to the database.
type statements struct {
	n   atomic.Int64
	mu  sync.Mutex
	log []string
}

func (s *statements) record(_ context.Context, args ...any) {
	s.n.Add(1)
	s.mu.Lock()
	s.log = append(s.log, fmt.Sprint(args...))
	s.mu.Unlock()
}

func (s *statements) reset() {
	s.n.Store(0)
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

// Statements that are not a transaction's begin/commit/rollback.
func (s *statements) queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var q []string
	for _, l := range s.log {
		if strings.Contains(l, "Query:") || strings.Contains(l, "Exec:") {
			q = append(q, l)
		}
	}
	return q
}

// countingServer starts another instance over e's database whose ent client
// reports every statement to the returned counter.
func countingServer(t testing.TB, e *apitest.Env, configure ...func(*server.Config)) (*httptest.Server, *statements) {
	t.Helper()
	st := &statements{}
	drv := dialect.DebugWithContext(entsql.OpenDB(e.DB.Dialect, e.DB.SQL), st.record)
	db := &store.DB{Client: ent.NewClient(ent.Driver(drv)), SQL: e.DB.SQL, Dialect: e.DB.Dialect, URL: e.DB.URL}
	cfg := e.Config
	cfg.ManualBilling = true // no scheduler statements in the counts
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := server.New(cfg, db, e.Clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
	})
	<-srv.Listening()
	return hs, st
}

// post sends one GraphQL query and returns the body; it fails on errors.
func post(t testing.TB, client *http.Client, url, token, query string) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
		t.Fatalf("HTTP %d: %.500s", resp.StatusCode, raw)
	}
	return raw
}

// seeded is an Env with BENCH.md's data set at 1% (10 resellers, 1,000 IP
// licenses, 11 billed months): the operator's invoices(first: 50) answer
// holds about 5,000 invoice items.
func seeded(t testing.TB, backend string) *apitest.Env {
	t.Helper()
	e := apitest.New(t, backend, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true }))
	if err := seed.Bench(e.Ctx(), e.DB.Client, seed.BenchAt(0.01), io.Discard); err != nil {
		t.Fatal(err)
	}
	return e
}

// interpreted runs every read through gqlgen's executor, also on PostgreSQL
// where the read compiler (internal/sqlgraph) would answer it.
func interpreted(c *server.Config) { c.InterpretedReads = true }

// BenchmarkPartnerInvoices measures the README's partner query, as the
// operator over the seeded data set, through HTTP and gqlgen's executor.
//
//	go test ./internal/server/ -run '^$' -bench PartnerInvoices -benchtime 40x -count 1
func BenchmarkPartnerInvoices(b *testing.B) {
	for _, backend := range apitest.Backends {
		b.Run(backend, func(b *testing.B) {
			e := seeded(b, backend)
			hs, st := countingServer(b, e, interpreted)
			client := hs.Client()
			size := len(post(b, client, hs.URL, e.OperatorToken, partnerInvoicesQuery))
			st.reset()
			b.SetBytes(int64(size))
			stopProfile := profileLoop(b, backend)
			cpu := processCPU()
			b.ResetTimer()
			for b.Loop() {
				post(b, client, hs.URL, e.OperatorToken, partnerInvoicesQuery)
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			stopProfile()
			b.ReportMetric(float64(len(st.queries()))/float64(b.N), "stmts/op")
		})
	}
}

// BenchmarkPartnerInvoicesParallel is the same with 8 clients at once (the
// issue's closed loop), where goroutine stacks and GC pressure add up.
//
//	go test ./internal/server/ -run '^$' -bench PartnerInvoicesParallel -benchtime 80x -count 1
func BenchmarkPartnerInvoicesParallel(b *testing.B) {
	for _, backend := range apitest.Backends {
		b.Run(backend, func(b *testing.B) {
			e := seeded(b, backend)
			hs, _ := countingServer(b, e, interpreted)
			client := hs.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
			size := len(post(b, client, hs.URL, e.OperatorToken, partnerInvoicesQuery))
			b.SetBytes(int64(size))
			b.SetParallelism(4) // × GOMAXPROCS (2 here) = 8 clients
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			gcBefore := ms.NumGC
			cpu := processCPU()
			peakStacks := samplePeak("/memory/classes/heap/stacks:bytes")
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post(b, client, hs.URL, e.OperatorToken, partnerInvoicesQuery)
				}
			})
			b.ReportMetric(float64(processCPU()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.NumGC-gcBefore)/float64(b.N), "gc/op")
			b.ReportMetric(float64(peakStacks())/(1<<20), "peak-stack-MB")
		})
	}
}

// samplePeak polls a runtime metric every millisecond until the returned
// function is called, which returns the largest value seen.
func samplePeak(name string) func() uint64 {
	sample := []metrics.Sample{{Name: name}}
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}

// processCPU is the CPU time (user and system) this process has used: on a
// shared machine a steadier measure of the work per request than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileLoop writes a CPU profile of the measured loop alone (not the
// seeding) to $CLND_BENCH_CPUPROFILE-<backend> when that is set.
func profileLoop(b *testing.B, backend string) func() {
	out := os.Getenv("CLND_BENCH_CPUPROFILE")
	if out == "" {
		return func() {}
	}
	f, err := os.Create(out + "-" + backend)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// The price list is read once per query, not once per row: a page of
// licenses with each backup's monthlyPrice and each reseller's summary reads
// products and the backup price as often for 12 rows as for 3.
func TestPriceListReadOncePerQuery(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		for r := range 3 {
			seller := e.Register(fmt.Sprintf("price-memo-%d", r))
			for i := range 4 {
				id := e.AddLicense(seller.Token, fmt.Sprintf("8.%d.%d.1", r+1, i+1), "CLOUDLINUX_OS", "")
				e.Query(seller.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 5, datacenter: "us-east"}) { backup { id } } }`,
					map[string]any{"id": id}, nil)
			}
		}
		// gqlgen's executor, also where PostgreSQL would compile the query.
		hs, st := countingServer(t, e, interpreted)
		reads := func(first int) (products, settings int) {
			st.reset()
			post(t, hs.Client(), hs.URL, e.OperatorToken, fmt.Sprintf(`{ ipLicenses(first: %d) { edges { node {
				ip product { name monthlyPrice } backup { sizeGB monthlyPrice }
				reseller { login summary { licenseCostPerMonth } } } } }
				products { type monthlyPrice } backupPricePerGB }`, first))
			for _, q := range st.queries() {
				switch {
				case strings.Contains(q, "FROM `products`"), strings.Contains(q, `FROM "products"`):
					products++
				case strings.Contains(q, "FROM `settings`"), strings.Contains(q, `FROM "settings"`):
					settings++
				}
			}
			return products, settings
		}
		p3, s3 := reads(3)
		p12, s12 := reads(12)
		if p12 != p3 || s12 != s3 {
			t.Errorf("price list reads grow with the page: products %d→%d, settings %d→%d for 3→12 rows", p3, p12, s3, s12)
		}
		// Once for the list of products (which summaries share), once more
		// for the eager load of the product edge; the setting once.
		if p12 > 2 || s12 > 1 {
			t.Errorf("12 rows read products %d times and settings %d times", p12, s12)
		}
	})
}

// A mutation's later fields see what its earlier fields changed: prices are
// remembered for queries only.
func TestMutationSeesItsOwnPriceChange(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("price-change")
		first := e.AddLicense(seller.Token, "8.9.1.1", "CLOUDLINUX_OS", "")
		second := e.AddLicense(seller.Token, "8.9.1.2", "CLOUDLINUX_OS", "")
		var out struct {
			A, B struct{ Backup struct{ MonthlyPrice string } }
		}
		e.Query(e.OperatorToken, `mutation($first: ID!, $second: ID!) {
			a: activateBackup(input: {licenseID: $first, sizeGB: 10, datacenter: "us-east"}) { backup { monthlyPrice } }
			p: setBackupPricePerGB(input: {pricePerGB: "1.00"}) { backupPricePerGB }
			b: activateBackup(input: {licenseID: $second, sizeGB: 10, datacenter: "us-east"}) { backup { monthlyPrice } } }`,
			map[string]any{"first": first, "second": second}, &out)
		if out.B.Backup.MonthlyPrice != "10.00" || out.A.Backup.MonthlyPrice == out.B.Backup.MonthlyPrice {
			t.Errorf("backup monthly prices before and after the price change: %q, %q; want the second 10.00", out.A.Backup.MonthlyPrice, out.B.Backup.MonthlyPrice)
		}
	})
}
