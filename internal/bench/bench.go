// Package bench is clnd's read benchmark (`clnd bench`, `make bench`): it
// serves workloads W1–W3 from clnd's GraphQL API and, through the same HTTP
// stack, from one hand-written SQL statement each, on PostgreSQL with the
// `clnd seed --bench` data set, and prints one table of interleaved
// measurements: requests per second and their ratio, p50/p99 latency and SQL
// statements per request. docs/performance.md explains how to read it.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"clnd/ent/apitoken"
	"clnd/ent/reseller"
	"clnd/internal/auth"
	"clnd/internal/clock"
	"clnd/internal/seed"
	"clnd/internal/server"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Options say what to measure and for how long.
type Options struct {
	// DatabaseURL is a PostgreSQL database to run on as it is: migrated,
	// seeded only if it holds no benchmark data, and kept afterwards. When
	// empty, the run makes a throwaway database through AdminURL, or on a
	// private server of its own when AdminURL is empty too.
	DatabaseURL string
	AdminURL    string
	// Scale is the data set's size for `clnd seed --bench` (1 = BENCH.md's).
	Scale float64
	// Clients is how many requests are in flight at once (a closed loop).
	Clients int
	// Rounds of Phase per side and cell; Warmup per side and cell first.
	Rounds int
	Phase  time.Duration
	Warmup time.Duration
	// Firsts are the page sizes; Workloads the names to run (all when empty).
	Firsts    []int
	Workloads []string
	// As is who calls: AsReseller (BenchReseller's READ API token, the
	// default) or AsOperator (an operator token, which sees every tenant).
	As string
	// InterpretedReads runs clnd with its read compiler off (every field on
	// gqlgen and ent), as `clnd serve --interpreted-reads` does.
	InterpretedReads bool
	// Only runs one of the tables: "reads" (W1–W3) or "checkins" (B3);
	// both when empty.
	Only string
	// CheckInClients is how many check-ins (and UPDATEs) are in flight at
	// once: BENCH.md's B3 says 64.
	CheckInClients int
	// CheckInSides, when set, limits the check-in table to these sides
	// (and the UPDATEs every ratio divides by).
	CheckInSides []string
	// Progress receives what the run is doing.
	Progress io.Writer
	// Profile, when set, receives a CPU profile of the measurements.
	Profile io.Writer
}

// The tables Only can choose.
const (
	TableReads    = "reads"
	TableCheckIns = "checkins"
)

func (o *Options) runs(table string) bool { return o.Only == "" || o.Only == table }

// Defaults keep a whole run within about five minutes on two cores.
func (o *Options) Defaults() {
	if o.Scale == 0 {
		o.Scale = DefaultScale
	}
	if o.Clients == 0 {
		o.Clients = 8
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	if o.Phase == 0 {
		o.Phase = 3 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = time.Second
	}
	if len(o.Firsts) == 0 {
		o.Firsts = []int{10, 50, 100}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.As == "" {
		o.As = AsReseller
	}
	if o.CheckInClients == 0 {
		o.CheckInClients = 64
	}
}

// Who the workloads run as.
const (
	AsReseller = "reseller"
	AsOperator = "operator"
)

// DefaultScale is a tenth of BENCH.md's data set. Each reseller holds the
// same data at every scale (100 IP licenses, 5 server accounts with 10
// servers each, 12 monthly invoices), and the workloads read one reseller,
// so their answers are as large as at full scale; seeding takes seconds
// instead of minutes.
const DefaultScale = 0.1

// BenchReseller is the reseller whose API token the workloads run as.
const BenchReseller = "bench00000"

// Side is one server's figures for one cell.
type Side struct {
	Rates      []float64 // requests/s per round
	Rate       float64   // their median
	P50, P99   time.Duration
	Statements StatementStats
	Bytes      int // size of one answer
	latencies  []time.Duration
}

// Cell is one workload at one page size.
type Cell struct {
	Workload string
	First    int
	CLND     Side // clnd's GraphQL API
	SQL      Side // the hand-written statement
	// Ratio is the median over rounds of clnd's rate ÷ the statement's,
	// each pair measured back to back.
	Ratio  float64
	ratios []float64
	// Reordered says that clnd answered a nested list in another order than
	// the statement (see sameAnswers).
	Reordered bool
}

// Report is a whole run.
type Report struct {
	Options
	Postgres string // server version
	JIT      string // the database's jit setting: "off" unless --database-url says otherwise
	Data     seed.BenchSize
	Cells    []*Cell
	CheckIns *CheckInReport // nil unless the check-in table ran
}

// Run measures and returns the report; it stops at the first wrong answer
// or failed request.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.Defaults()
	if o.As != AsReseller && o.As != AsOperator {
		return nil, fmt.Errorf("run as %q: want %q or %q", o.As, AsReseller, AsOperator)
	}
	if o.Only != "" && o.Only != TableReads && o.Only != TableCheckIns {
		return nil, fmt.Errorf("only %q: want %q or %q", o.Only, TableReads, TableCheckIns)
	}
	log := o.Progress
	target := &database{url: o.DatabaseURL}
	if target.url == "" {
		var err error
		if target, err = throwawayDatabase(ctx, o.AdminURL, log); err != nil {
			return nil, err
		}
		defer target.drop()
	}
	stmts := &Statements{}
	db, err := store.Open(ctx, target.url, store.WrapPostgres(stmts.Wrap))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if !db.Postgres() {
		return nil, errors.New("the benchmark runs on PostgreSQL: pass a postgres:// URL")
	}
	report := &Report{Options: o, Data: seed.BenchAt(o.Scale)}
	if err := db.SQL.QueryRowContext(ctx, `SHOW server_version`).Scan(&report.Postgres); err != nil {
		return nil, err
	}
	if err := db.SQL.QueryRowContext(ctx, `SHOW jit`).Scan(&report.JIT); err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, func(string) {}); err != nil {
		return nil, err
	}
	ctx = clock.NewContext(ctx, clock.System{})
	token, err := prepareData(ctx, db, o, log)
	if err != nil {
		return nil, err
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := server.Config{
		ManualBilling:    true,
		InterpretedReads: o.InterpretedReads,
		// Deliveries the check-in table queues are never posted (events.go).
		WebhooksDisabled: true,
		Routes:           map[string]http.Handler{},
	}
	cfg.Defaults()
	cfg.Routes["GET "+BaselinePath+"{workload}"] = newBaseline(db.SQL, cfg.StaleAfter)
	srv, err := server.New(cfg, db, nil, quiet)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	httpServer := httptest.NewUnstartedServer(stmts.Middleware(srv.Handler()))
	httpServer.Listener = srv.Listener(httpServer.Listener)
	httpServer.Start()
	defer httpServer.Close()
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        o.Clients * 2,
		MaxIdleConnsPerHost: o.Clients * 2,
		DisableCompression:  true,
	}}

	if o.Profile != nil {
		if err := pprof.StartCPUProfile(o.Profile); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if o.runs(TableReads) {
		if err := runReads(ctx, o, report, client, httpServer.URL, token, stmts, log); err != nil {
			return nil, err
		}
	}
	if o.runs(TableCheckIns) {
		if report.CheckIns, err = runCheckIns(ctx, o, target.url, httpServer.URL, srv, log); err != nil {
			return nil, err
		}
	}
	return report, nil
}

// runReads measures W1–W3 against the hand-written statements: every
// workload and page size, interleaved rounds.
func runReads(ctx context.Context, o Options, report *Report, client *http.Client, base, token string, stmts *Statements, log io.Writer) error {
	type pair struct {
		cell       *Cell
		clnd, base request
	}
	var pairs []pair
	for _, w := range Workloads {
		if len(o.Workloads) > 0 && !slices.Contains(o.Workloads, w.Name) {
			continue
		}
		for _, first := range o.Firsts {
			c := &Cell{Workload: w.Name, First: first}
			report.Cells = append(report.Cells, c)
			pairs = append(pairs, pair{c, graphQLRequest(base, token, w, first), baselineRequest(base, token, w, first)})
		}
	}
	if len(pairs) == 0 {
		return fmt.Errorf("no workload named %v", o.Workloads)
	}

	fmt.Fprintln(log, "checking that both servers answer the same JSON")
	for _, p := range pairs {
		if err := sameAnswers(ctx, client, p.cell, p.clnd, p.base, log); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "warming up: %s per side and cell\n", o.Warmup)
	for _, p := range pairs {
		for _, r := range []request{p.clnd, p.base} {
			if _, err := closedLoop(ctx, client, o.Clients, o.Warmup, r); err != nil {
				return err
			}
		}
	}
	stmts.Reset()

	for round := range o.Rounds {
		for _, p := range pairs {
			// Alternate which side goes first, so that neither always runs
			// right after the other's garbage.
			sides := []struct {
				side *Side
				req  request
				name string
			}{{&p.cell.CLND, p.clnd, "clnd"}, {&p.cell.SQL, p.base, "SQL"}}
			if round%2 == 1 {
				sides[0], sides[1] = sides[1], sides[0]
			}
			rates := map[*Side]float64{}
			for _, s := range sides {
				res, err := closedLoop(ctx, client, o.Clients, o.Phase, s.req)
				if err != nil {
					return fmt.Errorf("%s first:%d %s: %w", p.cell.Workload, p.cell.First, s.name, err)
				}
				s.side.add(res, stmts.Reset())
				rates[s.side] = res.rate()
			}
			p.cell.ratios = append(p.cell.ratios, rates[&p.cell.CLND]/rates[&p.cell.SQL])
			fmt.Fprintf(log, "round %d/%d  %s first:%-3d  clnd %7.1f req/s  SQL %7.1f req/s  ratio %.2f\n",
				round+1, o.Rounds, p.cell.Workload, p.cell.First, rates[&p.cell.CLND], rates[&p.cell.SQL], rates[&p.cell.CLND]/rates[&p.cell.SQL])
		}
	}
	for _, c := range report.Cells {
		c.CLND.finish()
		c.SQL.finish()
		c.Ratio = median(c.ratios)
	}
	return nil
}

// prepareData seeds the benchmark data set unless the database has it, and
// returns a fresh token: BenchReseller's READ API token, or an operator's.
func prepareData(ctx context.Context, db *store.DB, o Options, log io.Writer) (string, error) {
	sys := viewer.SystemContext(ctx)
	seeded, err := db.Client.Reseller.Query().Where(reseller.Login(BenchReseller)).Exist(sys)
	if err != nil {
		return "", err
	}
	if !seeded {
		size := seed.BenchAt(o.Scale)
		fmt.Fprintf(log, "seeding the benchmark data set at scale %g: %+v\n", o.Scale, size)
		began := time.Now()
		if err := seed.Bench(ctx, db.Client, size, indent{log}); err != nil {
			return "", fmt.Errorf("seeding: %w", err)
		}
		// Fresh tables have no statistics until autovacuum gets to them;
		// both servers plan with the same ones. Vacuumed too, as pgbench
		// does before it measures: otherwise autovacuum gets to the freshly
		// seeded tables during the first rounds and takes a core from
		// whichever side is running.
		if _, err := db.SQL.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
			return "", fmt.Errorf("vacuuming after seeding: %w", err)
		}
		fmt.Fprintf(log, "seeded in %s\n", time.Since(began).Round(time.Second))
	} else {
		fmt.Fprintln(log, "the database already holds the benchmark data set; using it as it is")
	}
	name := "clnd bench " + time.Now().UTC().Format(time.RFC3339)
	if o.As == AsOperator {
		return auth.CreateOperatorToken(ctx, db.Client, name)
	}
	r, err := db.Client.Reseller.Query().Where(reseller.Login(BenchReseller)).Only(sys)
	if err != nil {
		return "", err
	}
	secret, hash := auth.NewSecret(auth.APITokenPrefix)
	_, err = db.Client.APIToken.Create().SetResellerID(r.ID).SetName(name).
		SetScope(apitoken.ScopeREAD).SetTokenHash(hash).Save(sys)
	return secret, err
}

// sameAnswers fails unless clnd and the hand-written statement answer the
// same JSON (compared as values with key and list order kept, not byte for
// byte: PostgreSQL's json text has spaces after colons and commas). Both
// answers are written to files for a look when they differ. Answers that
// differ only in the order of a nested list pass with a warning: clnd gives
// Invoice.lines, InvoiceLine.items and ServerAccount.keys no ORDER BY yet
// (issue 7, item 4), so their order is whatever the plan returns; the
// statement orders them by position and ID.
func sameAnswers(ctx context.Context, client *http.Client, c *Cell, clnd, base request, log io.Writer) error {
	a, err := fetch(ctx, client, clnd)
	if err != nil {
		return fmt.Errorf("%s first:%d from clnd: %w", c.Workload, c.First, err)
	}
	b, err := fetch(ctx, client, base)
	if err != nil {
		return fmt.Errorf("%s first:%d from the hand-written statement: %w", c.Workload, c.First, err)
	}
	result, where, err := compareJSON(a, b)
	if err != nil {
		return fmt.Errorf("%s first:%d: %w", c.Workload, c.First, err)
	}
	if result != same {
		dir, _ := os.MkdirTemp("", "clnd-bench-diff-")
		pa, pb := filepath.Join(dir, "clnd.json"), filepath.Join(dir, "sql.json")
		_ = os.WriteFile(pa, a, 0o644)
		_ = os.WriteFile(pb, b, 0o644)
		if result == different {
			return fmt.Errorf("%s first:%d: clnd and the hand-written statement answer differently at %s (answers in %s and %s)",
				c.Workload, c.First, where, pa, pb)
		}
		fmt.Fprintf(log, "  WARNING %s first:%d: same values, but a list in another order, first at %s (answers in %s and %s)\n",
			c.Workload, c.First, where, pa, pb)
		c.Reordered = true
	}
	fmt.Fprintf(log, "  %s first:%-3d same answer: %d bytes from clnd, %d from SQL\n", c.Workload, c.First, len(a), len(b))
	c.CLND.Bytes, c.SQL.Bytes = len(a), len(b)
	return nil
}

func graphQLRequest(base, token string, w Workload, first int) request {
	body, _ := json.Marshal(map[string]any{"query": w.Document, "variables": map[string]any{"first": first}})
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		return req, nil
	}
}

func baselineRequest(base, token string, w Workload, first int) request {
	url := base + BaselinePath + w.Name + "?first=" + strconv.Itoa(first)
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return req, nil
	}
}

func (s *Side) add(res phaseResult, st StatementStats) {
	s.Rates = append(s.Rates, res.rate())
	s.latencies = append(s.latencies, res.latencies...)
	if s.Statements.Requests == 0 || st.Min < s.Statements.Min {
		s.Statements.Min = st.Min
	}
	s.Statements.Max = max(s.Statements.Max, st.Max)
	s.Statements.Requests += st.Requests
	s.Statements.Total += st.Total
}

func (s *Side) finish() {
	s.Rate = median(s.Rates)
	slices.Sort(s.latencies)
	s.P50, s.P99 = percentile(s.latencies, 0.50), percentile(s.latencies, 0.99)
	s.latencies = nil
}

// indent prefixes the seeder's progress lines.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	lines := bytes.SplitAfter(p, []byte("\n"))
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		if _, err := i.w.Write(append([]byte("  "), l...)); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
