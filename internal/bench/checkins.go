package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"clnd/internal/server"
	"clnd/internal/store"
)

// BENCH.md's B3: check-ins over HTTP from many concurrent clients, each
// divided by the rate of single-row UPDATEs of the same database from as
// many connections, measured in the same run in interleaved rounds.

// CheckInSides are what the check-in table compares, in its order.
const (
	SideUpdates = "UPDATE"
	SideLean    = "lean"
	SideGraphQL = "graphql"
)

// CheckInSide is one way of checking in (or the UPDATE baseline).
type CheckInSide struct {
	Name     string
	Title    string
	Rates    []float64 // per round
	Rate     float64   // median
	Ratios   []float64 // ÷ the UPDATEs of the same round
	Ratio    float64   // median
	P50, P99 time.Duration
	PerBatch float64 // check-ins per write transaction
	// CPU is the processor time one operation cost, the benchmark's own
	// process (clients and clnd) and the database's processes together;
	// CPURatio is the UPDATE's CPU ÷ this one's: how many of these the
	// machine can do for the price of one UPDATE, however busy it is with
	// other work. Zero when the database's processes cannot be read.
	CPU      time.Duration
	CPURatio float64
	// DBCPU is the part of CPU spent in PostgreSQL's processes.
	DBCPU       time.Duration
	cpu, dbCPU  time.Duration
	ops         int
	latencies   []time.Duration
	batches     int64
	written     int64
	op          func(ctx context.Context, worker, i int) error
	countsBatch bool
	// events, when set, writes events beside this side's check-ins;
	// EventRates are the events per second it achieved each round, EventRate
	// their median, and VsLean the rate ÷ the lean side's, per round then
	// median (issue 11: at least 0.9).
	events     *eventLoad
	EventRates []float64
	EventRate  float64
	VsLeans    []float64
	VsLean     float64
}

// CheckInReport is the check-in table.
type CheckInReport struct {
	Clients  int
	Licenses int
	// Persisted says that the GraphQL side sent only the document's hash
	// (automatic persisted queries); otherwise it sent the document.
	Persisted bool
	Sides     []*CheckInSide
}

// checkInMutation is what a GraphQL agent sends: the hostname as a
// variable, so every server sends the same document.
const checkInMutation = `mutation CheckIn($hostname: String) { checkIn(input: {hostname: $hostname}) { at licensed nextCheckInAfter } }`

type benchLicense struct{ id, ip, hostname string }

// runCheckIns measures the three sides against srv (serving at base) and
// the database at dbURL.
func runCheckIns(ctx context.Context, o Options, dbURL, base string, srv *server.Server, log io.Writer) (*CheckInReport, error) {
	updates, err := sql.Open("postgres", dbURL)
	if err != nil {
		return nil, err
	}
	defer updates.Close()
	updates.SetMaxOpenConns(o.CheckInClients)
	updates.SetMaxIdleConns(o.CheckInClients)
	licenses, err := checkInLicenses(ctx, updates)
	if err != nil {
		return nil, err
	}
	meter, err := newCPUMeter(ctx, updates)
	if err != nil {
		fmt.Fprintf(log, "not measuring CPU per check-in: %v\n", err)
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        o.CheckInClients * 2,
		MaxIdleConnsPerHost: o.CheckInClients * 2,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()
	pick := func(worker, i int) benchLicense { return licenses[(worker*7919+i)%len(licenses)] }
	// Each client's own connections (wire.go), one for check-ins on
	// /v1/checkin and one for GraphQL, as an agent uses one or the other;
	// only the client's goroutine uses them. A connection that carried a
	// GraphQL request is served by net/http from then on (a lean connection
	// hands it over, docs/checkins.md): shared, the lean side measured
	// net/http after the first GraphQL round.
	wires := make([]*wire, o.CheckInClients)
	gqlWires := make([]*wire, o.CheckInClients)
	for w := range wires {
		wires[w], gqlWires[w] = newWire(base), newWire(base)
		defer wires[w].close()
		defer gqlWires[w].close()
	}

	emitDB, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer emitDB.Close()
	load, err := newEventLoad(ctx, emitDB)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := load.remove(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(log, "%v\n", err)
		}
	}()
	report := &CheckInReport{Clients: o.CheckInClients, Licenses: len(licenses)}
	gql, persisted, err := graphQLCheckIn(ctx, client, base)
	if err != nil {
		return nil, err
	}
	report.Persisted = persisted
	gqlTitle := "POST /graphql checkIn, hostname as a variable"
	if persisted {
		gqlTitle += ", persisted query (hash only)"
	} else {
		gqlTitle += ", whole document (no persisted queries in this build)"
	}
	report.Sides = []*CheckInSide{
		{Name: SideUpdates, Title: fmt.Sprintf("UPDATE ip_licenses SET last_check_in = $1 WHERE id = $2 (%d connections)", o.CheckInClients),
			op: func(ctx context.Context, worker, i int) error {
				_, err := updates.ExecContext(ctx, `UPDATE ip_licenses SET last_check_in = $1 WHERE id = $2`, time.Now(), pick(worker, i).id)
				return err
			}},
		{Name: SideLean, Title: "POST " + server.CheckInPath + ", JSON body", countsBatch: true,
			op: func(ctx context.Context, worker, i int) error {
				l := pick(worker, i)
				body := `{"hostname":"` + l.hostname + `"}`
				return wires[worker].post(server.CheckInPath, body, l.ip, []byte(`{"at":"`))
			}},
		{Name: SideLeanEvents, Title: fmt.Sprintf("the lean side while %d events/s are written, each queueing a webhook delivery (River job), %d per transaction", EventRate, EventBatch),
			countsBatch: true, events: load,
			op: func(ctx context.Context, worker, i int) error {
				l := pick(worker, i)
				body := `{"hostname":"` + l.hostname + `"}`
				return wires[worker].post(server.CheckInPath, body, l.ip, []byte(`{"at":"`))
			}},
		{Name: SideGraphQL, Title: gqlTitle, countsBatch: true,
			op: func(ctx context.Context, worker, i int) error {
				l := pick(worker, i)
				return gqlWires[worker].post("/graphql", gql(l.hostname), l.ip, []byte(`{"data":{"checkIn":{`))
			}},
	}
	if len(o.CheckInSides) > 0 {
		kept := report.Sides[:1] // the UPDATEs: every ratio's denominator
		for _, s := range report.Sides[1:] {
			// lean+events is measured against lean: it brings it along.
			if slices.Contains(o.CheckInSides, s.Name) || s.Name == SideLean && slices.Contains(o.CheckInSides, SideLeanEvents) {
				kept = append(kept, s)
			}
		}
		report.Sides = kept
	}
	fmt.Fprintf(log, "check-ins: %d clients over %d licenses; warming up %s per side\n", o.CheckInClients, len(licenses), o.Warmup)
	for _, s := range report.Sides {
		if _, err := loop(ctx, o.CheckInClients, o.Warmup, s.op); err != nil {
			return nil, fmt.Errorf("check-ins, %s: %w", s.Name, err)
		}
	}
	for round := range o.Rounds {
		// Rotate the order, so that no side always runs after the same one.
		order := slices.Clone(report.Sides)
		for range round % len(order) {
			order = append(order[1:], order[0])
		}
		rates := map[string]float64{}
		for _, s := range order {
			b0, w0 := srv.CheckIns().Stats()
			cpu0, db0 := meter.read()
			var stopEvents func() (int64, time.Duration)
			if s.events != nil {
				stopEvents = s.events.start(ctx)
			}
			res, err := loop(ctx, o.CheckInClients, o.Phase, s.op)
			if stopEvents != nil {
				n, d := stopEvents()
				s.EventRates = append(s.EventRates, float64(n)/d.Seconds())
			}
			if err != nil {
				return nil, fmt.Errorf("check-ins, %s: %w", s.Name, err)
			}
			cpu1, db1 := meter.read()
			s.cpu += cpu1 - cpu0
			s.dbCPU += db1 - db0
			s.ops += res.requests
			b1, w1 := srv.CheckIns().Stats()
			if s.countsBatch {
				s.batches += b1 - b0
				s.written += w1 - w0
			}
			s.Rates = append(s.Rates, res.rate())
			s.latencies = append(s.latencies, res.latencies...)
			rates[s.Name] = res.rate()
		}
		for _, s := range report.Sides {
			s.Ratios = append(s.Ratios, rates[s.Name]/rates[SideUpdates])
			if s.events != nil {
				s.VsLeans = append(s.VsLeans, rates[s.Name]/rates[SideLean])
			}
		}
		line := fmt.Sprintf("round %d/%d  check-ins/s: UPDATE %.0f", round+1, o.Rounds, rates[SideUpdates])
		for _, s := range report.Sides[1:] {
			if s.events != nil {
				line += fmt.Sprintf("  %s %.0f (%.2f× lean, %.0f events/s)", s.Name, rates[s.Name], rates[s.Name]/rates[SideLean], load.lastRate(report))
				continue
			}
			line += fmt.Sprintf("  %s %.0f (%.2f×)", s.Name, rates[s.Name], rates[s.Name]/rates[SideUpdates])
		}
		fmt.Fprintln(log, line)
	}
	for _, s := range report.Sides {
		s.Rate, s.Ratio = median(s.Rates), median(s.Ratios)
		if s.events != nil {
			s.EventRate, s.VsLean = median(s.EventRates), median(s.VsLeans)
		}
		slices.Sort(s.latencies)
		s.P50, s.P99 = percentile(s.latencies, 0.50), percentile(s.latencies, 0.99)
		s.latencies = nil
		if s.batches > 0 {
			s.PerBatch = float64(s.written) / float64(s.batches)
		}
		if meter != nil && s.ops > 0 {
			s.CPU = s.cpu / time.Duration(s.ops)
			s.DBCPU = s.dbCPU / time.Duration(s.ops)
		}
	}
	if meter != nil {
		for _, s := range report.Sides {
			if s.CPU > 0 {
				s.CPURatio = float64(report.Sides[0].CPU) / float64(s.CPU)
			}
		}
	}
	return report, nil
}

// checkInLicenses are the licenses the check-ins and UPDATEs touch: the same
// rows on every side, spread over the table.
func checkInLicenses(ctx context.Context, db *sql.DB) ([]benchLicense, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, ip, hostname FROM ip_licenses ORDER BY id LIMIT 2000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []benchLicense
	for rows.Next() {
		var l benchLicense
		if err := rows.Scan(&l.id, &l.ip, &l.hostname); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the database has no IP licenses to check in")
	}
	return out, nil
}

// graphQLCheckIn returns the body of a GraphQL check-in for a hostname. When
// the server speaks Apollo's automatic persisted queries (it answers a bare
// hash with PERSISTED_QUERY_NOT_FOUND), the document is registered once and
// every check-in sends only its hash, as a dashboard or agent would.
func graphQLCheckIn(ctx context.Context, client *http.Client, base string) (func(hostname string) string, bool, error) {
	sum := sha256.Sum256([]byte(checkInMutation))
	ext := `"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hex.EncodeToString(sum[:]) + `"}}`
	withDocument := func(hostname string) string {
		return `{"query":` + quote(checkInMutation) + `,"variables":{"hostname":` + quote(hostname) + `}}`
	}
	hashOnly := func(hostname string) string {
		return `{"variables":{"hostname":` + quote(hostname) + `},` + ext + `}`
	}
	_, probe, err := postRaw(ctx, client, base+"/graphql", hashOnly("probe.bench.example"), "")
	if err != nil {
		return nil, false, err
	}
	var answer struct {
		Errors []struct {
			Extensions struct{ Code string }
		}
	}
	_ = json.Unmarshal(probe, &answer)
	if len(answer.Errors) == 0 || answer.Errors[0].Extensions.Code != "PERSISTED_QUERY_NOT_FOUND" {
		return withDocument, false, nil
	}
	register := `{"query":` + quote(checkInMutation) + `,"variables":{"hostname":"probe.bench.example"},` + ext + `}`
	if err := post(ctx, client, base+"/graphql", register, "", []byte(`{"data":`)); err != nil {
		return nil, false, fmt.Errorf("registering the persisted check-in: %w", err)
	}
	return hashOnly, true, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// post sends one check-in from ip (as X-Forwarded-For: the benchmark's
// client is on loopback, a trusted proxy) and fails unless the answer is a
// 200 starting with want.
func post(ctx context.Context, client *http.Client, url, body, ip string, want []byte) error {
	status, answer, err := postRaw(ctx, client, url, body, ip)
	if err != nil {
		return err
	}
	if status != http.StatusOK || !bytes.HasPrefix(answer, want) {
		return fmt.Errorf("POST %s: status %d: %.300s", url, status, answer)
	}
	return nil
}

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// postRaw sends body and returns the answer's status and body.
func postRaw(ctx context.Context, client *http.Client, url, body, ip string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	buf := bufs.Get().(*bytes.Buffer)
	defer bufs.Put(buf)
	buf.Reset()
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, bytes.Clone(buf.Bytes()), nil
}

// loop runs op from clients goroutines for d, each calling it again as soon
// as it returns; the first error ends the phase.
func loop(ctx context.Context, clients int, d time.Duration, op func(ctx context.Context, worker, i int) error) (phaseResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				began := time.Now()
				if err := op(ctx, w, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					break
				}
				mine = append(mine, time.Since(began))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return phaseResult{}, firstErr
	}
	return phaseResult{requests: len(latencies), elapsed: elapsed, latencies: latencies}, nil
}
