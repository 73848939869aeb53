package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"clnd/internal/bench"
)

// benchCmd runs the read and check-in benchmarks (docs/performance.md) and
// prints their tables.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", "", "a PostgreSQL database to run on as it is (seeded if it holds no benchmark data, kept afterwards); default: a throwaway database through TEST_DATABASE_URL, or on a private server started for the run")
	scale := fs.Float64("scale", bench.DefaultScale, "the data set's size when seeding (1 = 1,000 resellers, 100,000 IP licenses, ...)")
	clients := fs.Int("clients", 8, "concurrent clients (a closed loop)")
	rounds := fs.Int("rounds", 3, "interleaved rounds: each measures every cell on both servers")
	phase := fs.Duration("duration", 3*time.Second, "how long each side of each cell runs per round")
	warmup := fs.Duration("warmup", time.Second, "warm-up per side and cell before the first round")
	firsts := fs.String("first", "10,50,100", "page sizes, comma-separated")
	workloads := fs.String("workloads", "W1,W2,W3", "workloads to run, comma-separated")
	interpreted := fs.Bool("interpreted-reads", false, "run clnd with its read compiler off, as 'clnd serve --interpreted-reads'")
	only := fs.String("only", "", "run one table: 'reads' (W1–W3) or 'checkins' (B3: check-ins ÷ single-row UPDATEs); default both")
	checkInClients := fs.Int("checkin-clients", 64, "concurrent clients of the check-in table")
	sides := fs.String("checkin-sides", "", "limit the check-in table to these sides, comma-separated (lean, lean+events, graphql); the UPDATEs always run")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measurements (clnd and the clients; not the seeding) to this file")
	as := fs.String("as", bench.AsReseller, "who calls: 'reseller' (a READ API token of reseller "+bench.BenchReseller+") or 'operator' (every tenant)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := bench.Options{
		DatabaseURL:      *dbURL,
		AdminURL:         os.Getenv("TEST_DATABASE_URL"),
		Scale:            *scale,
		Clients:          *clients,
		Rounds:           *rounds,
		Phase:            *phase,
		Warmup:           *warmup,
		Workloads:        strings.Split(*workloads, ","),
		As:               *as,
		InterpretedReads: *interpreted,
		Only:             *only,
		CheckInClients:   *checkInClients,
		Progress:         stderr,
	}
	if *scale <= 0 || *clients <= 0 || *rounds <= 0 || *phase <= 0 || *warmup <= 0 || *checkInClients <= 0 {
		return fmt.Errorf("--scale, --clients, --checkin-clients, --rounds, --duration and --warmup must be positive")
	}
	for _, f := range strings.Split(*firsts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("--first %q: want page sizes from 1 to 100", *firsts)
		}
		o.Firsts = append(o.Firsts, n)
	}
	for _, side := range strings.Split(*sides, ",") {
		switch side = strings.TrimSpace(side); side {
		case "":
		case bench.SideLean, bench.SideLeanEvents, bench.SideGraphQL:
			o.CheckInSides = append(o.CheckInSides, side)
		default:
			return fmt.Errorf("--checkin-sides: unknown side %q (want lean, lean+events or graphql)", side)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Profile = f
	}
	report, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	return report.WriteTable(stdout)
}
