package bench

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"clnd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestHarness runs the whole benchmark on the smallest data set for a
// moment: both servers must answer the same JSON, every cell must be
// measured, and statements must be counted on both sides. A hand-written
// statement that answers other data than clnd stops the run. The runs share
// one database, seeded by the first.
func TestHarness(t *testing.T) {
	url := pgtest.DSN(t)
	t.Run("measures", func(t *testing.T) { testMeasures(t, url) })
	t.Run("refuses a different answer", func(t *testing.T) { testRefusesADifferentAnswer(t, url) })
}

func testMeasures(t *testing.T, url string) {
	var progress bytes.Buffer
	o := Options{
		DatabaseURL: url,
		Scale:       0.001, // one reseller with BENCH.md's per-reseller data
		Rounds:      1,
		Phase:       50 * time.Millisecond,
		Warmup:      time.Millisecond,
		Progress:    &progress,
	}
	// What the lean+events side wrote is removed: a reused database does
	// not grow by every run's events (the second run ends with the rows
	// the first ended with).
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func() string {
		var n [4]int
		for i, table := range []string{"events", "webhook_deliveries", "webhook_endpoints", "river_job"} {
			if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n[i]); err != nil {
				t.Fatal(err)
			}
		}
		return fmt.Sprint(n)
	}
	var before string
	for _, as := range []string{AsReseller, AsOperator} {
		o.As = as
		o.Firsts = []int{2, 10}
		if as == AsOperator {
			o.Firsts = []int{10}
		}
		report, err := Run(context.Background(), o)
		if err != nil {
			t.Fatalf("as %s: %v\n%s", as, err, progress.String())
		}
		if len(report.Cells) != len(Workloads)*len(o.Firsts) {
			t.Fatalf("as %s: %d cells, want %d", as, len(report.Cells), len(Workloads)*len(o.Firsts))
		}
		for _, c := range report.Cells {
			if c.CLND.Rate <= 0 || c.SQL.Rate <= 0 || c.Ratio <= 0 {
				t.Errorf("as %s: %s first:%d measured nothing: %+v", as, c.Workload, c.First, c)
			}
			// At least the one statement (authentication is mostly cached).
			if c.SQL.Statements.Min < 1 || c.CLND.Statements.Min < 1 {
				t.Errorf("as %s: %s first:%d: statements clnd %+v, SQL %+v; want at least 1 per request",
					as, c.Workload, c.First, c.CLND.Statements, c.SQL.Statements)
			}
		}
		var table bytes.Buffer
		if err := report.WriteTable(&table); err != nil {
			t.Fatal(err)
		}
		if report.CheckIns == nil || len(report.CheckIns.Sides) != 4 {
			t.Fatalf("as %s: no check-in table: %+v", as, report.CheckIns)
		}
		for _, s := range report.CheckIns.Sides {
			if s.Rate <= 0 || s.Ratio <= 0 {
				t.Errorf("as %s: check-ins %s measured nothing: %+v", as, s.Name, s)
			}
			if s.Name == SideLeanEvents && (s.EventRate <= 0 || s.VsLean <= 0) {
				t.Errorf("as %s: check-ins %s wrote no events: %+v", as, s.Name, s)
			}
		}
		for _, want := range []string{"clnd÷SQL", "W1", "W2", "W3", "÷ UPDATE", "lean", "graphql (APQ)", "lean+events", "events/s written"} {
			if !strings.Contains(table.String(), want) {
				t.Errorf("the table lacks %q:\n%s", want, table.String())
			}
		}
		t.Logf("as %s:\n%s", as, table.String())
		if after := rows(); before != "" && after != before {
			t.Errorf("as %s: events, deliveries, endpoints and River jobs: %s after the run, %s before", as, after, before)
		} else {
			before = after
		}
	}
}

func testRefusesADifferentAnswer(t *testing.T, url string) {
	saved := Workloads[2].SQL
	t.Cleanup(func() { Workloads[2].SQL = saved })
	Workloads[2].SQL = strings.Replace(saved, `'hostname', s.hostname`, `'hostname', upper(s.hostname)`, 1)
	if Workloads[2].SQL == saved {
		t.Fatal("the W3 statement no longer selects 'hostname', s.hostname; update this test")
	}
	_, err := Run(context.Background(), Options{
		DatabaseURL: url, Scale: 0.001, Rounds: 1, Phase: 50 * time.Millisecond, Warmup: 10 * time.Millisecond,
		Firsts: []int{10}, Workloads: []string{"W3"},
	})
	if err == nil || !strings.Contains(err.Error(), "answer differently at $.data.ipLicenses.edges[0].node.hostname") {
		t.Fatalf("Run with a wrong W3 statement: %v; want it refused at the hostname", err)
	}
}

func TestCompareJSON(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want comparison
	}{
		{`{"a":1,"b":[1,2]}`, `{"a" : 1, "b" : [1, 2]}`, same},
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, different},
		{`{"a":[{"x":1},{"x":2}]}`, `{"a":[{"x":2},{"x":1}]}`, reordered},
		{`{"a":[1,2]}`, `{"a":[1,3]}`, different},
		{`{"a":null}`, `{"a":"null"}`, different},
		{`{"a":1}`, `{"a":1,"b":1}`, different},
		{`{"a":"1.00"}`, `{"a":1.00}`, different},
	} {
		got, where, err := compareJSON([]byte(tc.a), []byte(tc.b))
		if err != nil || got != tc.want {
			t.Errorf("compareJSON(%s, %s) = %v (%s), %v; want %v", tc.a, tc.b, got, where, err, tc.want)
		}
	}
}
