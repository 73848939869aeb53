package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report: the read table and the check-in table (each
// when it ran), with a header saying how they were measured.
func (r *Report) WriteTable(w io.Writer) error {
	if len(r.Cells) > 0 {
		if err := r.writeReads(w); err != nil {
			return err
		}
	}
	if r.CheckIns != nil {
		if len(r.Cells) > 0 {
			fmt.Fprintln(w)
		}
		return r.writeCheckIns(w)
	}
	return nil
}

// writeCheckIns prints B3: each way of checking in ÷ single-row UPDATEs.
func (r *Report) writeCheckIns(w io.Writer) error {
	c := r.CheckIns
	fmt.Fprintf(w, "clnd check-ins (BENCH.md B3): PostgreSQL %s; %d clients in a closed loop over %d licenses; %d interleaved rounds of %s per side; rates and ratios are medians over rounds\n\n",
		r.Postgres, c.Clients, c.Licenses, r.Rounds, r.Phase)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "side\tper s\t÷ UPDATE\ttarget\tp50 ms\tp99 ms\tper batch\tCPU µs/op\tof which PostgreSQL\tby CPU ÷ UPDATE\t")
	targets := map[string]string{SideLean: "≥ 3", SideGraphQL: "≥ 1.5"}
	for _, s := range c.Sides {
		target, perBatch := targets[s.Name], "-"
		if s.PerBatch > 0 {
			perBatch = fmt.Sprintf("%.1f", s.PerBatch)
		}
		if target == "" {
			target = "-"
		}
		name := s.Name
		if s.Name == SideGraphQL {
			// The target is the persisted query's: a build without them
			// sends the whole document, and has none.
			if c.Persisted {
				name = "graphql (APQ)"
			} else {
				name, target = "graphql (document)", "-"
			}
		}
		cpu, db, byCPU := "-", "-", "-"
		if s.CPU > 0 {
			cpu, db = fmt.Sprintf("%.0f", float64(s.CPU)/float64(time.Microsecond)), fmt.Sprintf("%.0f", float64(s.DBCPU)/float64(time.Microsecond))
			byCPU = fmt.Sprintf("%.2f", s.CPURatio)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Rate, s.Ratio, target, ms(s.P50), ms(s.P99), perBatch, cpu, db, byCPU)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range c.Sides {
		if s.events != nil {
			fmt.Fprintf(w, "\n%s: %.0f events/s written (target %d) at %.2f× the lean side's check-ins (target ≥ 0.90: at most 10%% slower)\n",
				s.Name, s.EventRate, EventRate, s.VsLean)
		}
	}
	fmt.Fprintln(w)
	for _, s := range c.Sides {
		fmt.Fprintf(w, "%-11s %s\n", s.Name, s.Title)
	}
	_, err := fmt.Fprintln(w, "per batch: check-ins per write transaction of the check-in flusher\n"+
		"CPU µs/op: processor time per operation of this process (clients and clnd) and of PostgreSQL's processes, so\n"+
		"  \"by CPU ÷ UPDATE\" holds however busy the machine is with other work; \"÷ UPDATE\" (the target's) is wall-clock rates")
	return err
}

func (r *Report) writeReads(w io.Writer) error {
	fmt.Fprintf(w, "clnd read benchmark: PostgreSQL %s, jit %s; data set at scale %g (resellers: %d, IP licenses: %d, server accounts: %d, servers: %d, months: %d)\n",
		r.Postgres, r.JIT, r.Scale, r.Data.Resellers, r.Data.Licenses, r.Data.Accounts, r.Data.Servers, r.Data.Months)
	caller := "as reseller " + BenchReseller + "'s READ API token"
	if r.As == AsOperator {
		caller = "as an operator (every tenant)"
	}
	if r.InterpretedReads {
		caller += "; clnd with --interpreted-reads (read compiler off)"
	}
	fmt.Fprintf(w, "%s; %d clients in a closed loop; %d interleaved rounds of %s per side; req/s and ratio are medians over rounds\n\n",
		caller, r.Clients, r.Rounds, r.Phase)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tfirst\tclnd req/s\tSQL req/s\tclnd÷SQL\tclnd p50 ms\tp99 ms\tSQL p50 ms\tp99 ms\tclnd stmts/req\tSQL stmts/req\tclnd KB\tSQL KB\t")
	reordered := false
	for _, c := range r.Cells {
		mark := ""
		if c.Reordered {
			mark, reordered = "*", true
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%.1f\t%.1f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			c.Workload, mark, c.First, c.CLND.Rate, c.SQL.Rate, c.Ratio,
			ms(c.CLND.P50), ms(c.CLND.P99), ms(c.SQL.P50), ms(c.SQL.P99),
			statements(c.CLND.Statements), statements(c.SQL.Statements),
			kb(c.CLND.Bytes), kb(c.SQL.Bytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if reordered {
		fmt.Fprintln(w, "\n* clnd answered a nested list (lines, items or keys) in another order than the statement: clnd gives them no ORDER BY yet")
	}
	var docs []string
	for _, wl := range Workloads {
		docs = append(docs, fmt.Sprintf("%s  %s", wl.Name, wl.Title))
	}
	_, err := fmt.Fprintf(w, "\n%s\nstatements include authentication's; the documents and statements are in docs/performance.md\n", strings.Join(docs, "\n"))
	return err
}

func kb(bytes int) string {
	v := float64(bytes) / 1024
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// statements is the mean per request, with the range when it varied.
func statements(s StatementStats) string {
	if s.Min == s.Max {
		return fmt.Sprintf("%d", s.Min)
	}
	return fmt.Sprintf("%.2f (%d–%d)", s.PerRequest(), s.Min, s.Max)
}
