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
func countingServer(t testing.TB, e *apitest.Env) (*httptest.Server, *statements) {
	t.Helper()
	st := &statements{}
	drv := dialect.DebugWithContext(entsql.OpenDB(e.DB.Dialect, e.DB.SQL), st.record)
	db := &store.DB{Client: ent.NewClient(ent.Driver(drv)), SQL: e.DB.SQL, Dialect: e.DB.Dialect, URL: e.DB.URL}
	cfg := e.Config
	cfg.ManualBilling = true // no scheduler statements in the counts
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

// BenchmarkPartnerInvoices measures the README's partner query, as the
// operator over the seeded data set, through HTTP.
//
//	go test ./internal/server/ -run '^$' -bench PartnerInvoices -benchtime 40x -count 1
func BenchmarkPartnerInvoices(b *testing.B) {
	for _, backend := range apitest.Backends {
		b.Run(backend, func(b *testing.B) {
			e := seeded(b, backend)
			hs, st := countingServer(b, e)
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
