package main

import (
	"context"
	"errors"
	"time"

	"clnd/internal/billing"
	"clnd/internal/server"
	"flag"
	"fmt"
	"io"

	"clnd/internal/auth"
	"clnd/internal/clock"
	"clnd/internal/seed"
	"clnd/internal/store"
	"clnd/internal/testclock"
)

func databaseFlag(fs *flag.FlagSet) *string {
	return fs.String("database-url", env("CLND_DATABASE_URL", store.DefaultURL), "database: sqlite://<path> or postgres://... (CLND_DATABASE_URL)")
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := databaseFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "migrating %s\n", db.Redacted())
	return db.Migrate(ctx, func(msg string) { fmt.Fprintln(stdout, msg) })
}

// openReady opens the database and makes sure its schema is current: SQLite
// is migrated on the spot, PostgreSQL must have been migrated already.
func openReady(ctx context.Context, url string, progress io.Writer) (*store.DB, error) {
	db, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if db.Postgres() {
		err = db.CheckMigrated(ctx)
	} else {
		err = db.Migrate(ctx, func(msg string) { fmt.Fprintln(progress, msg) })
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func createToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin create-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := databaseFlag(fs)
	name := fs.String("name", "", "what the token is for (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("--name is required")
	}
	db, err := openReady(ctx, *dbURL, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	token, err := auth.CreateOperatorToken(clock.NewContext(ctx, clock.System{}), db.Client, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "operator token %q created; it is shown only now:\n", *name)
	fmt.Fprintln(stdout, token)
	return nil
}

func seedCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := databaseFlag(fs)
	demo := fs.Bool("demo", false, "add the demo reseller with licenses, server accounts and invoices")
	bench := fs.Bool("bench", false, "fill an empty database with the benchmark data set (docs/performance.md), and bill all but its last month")
	scale := fs.Float64("scale", 1, "with --bench: the data set's size (1 = 1,000 resellers, 100,000 IP licenses, ...)")
	envErrors = nil
	sandbox := fs.Bool("sandbox", envBool("CLND_SANDBOX"), "date the data by the sandbox test clock (CLND_SANDBOX)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(envErrors...); err != nil {
		return err
	}
	if !*demo && !*bench {
		return fmt.Errorf("nothing to seed: pass --demo or --bench")
	}
	db, err := openReady(ctx, *dbURL, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := businessClock(ctx, db, *sandbox)
	if err != nil {
		return err
	}
	if *bench {
		if *scale <= 0 {
			return fmt.Errorf("--scale must be positive")
		}
		size := seed.BenchAt(*scale)
		fmt.Fprintf(stdout, "benchmark data set: %+v\n", size)
		return seed.BenchTo(clock.NewContext(ctx, c), db.Client, size, seed.Report{Out: stdout, Progress: stderr, Log: stderrLog(stderr)})
	}
	created, err := seed.Demo(clock.NewContext(ctx, c), db.Client)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "demo reseller created: login %q, password %q (demo values)\n", seed.DemoLogin, seed.DemoPassword)
	} else {
		fmt.Fprintln(stdout, "demo reseller already exists; nothing changed")
	}
	return nil
}

// billCmd runs one month's billing, as the scheduler would, and says how
// long it took: benchmark B5 (docs/operations.md; run it under /usr/bin/time -v for the peak RSS).
func billCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("bill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envErrors = nil
	dbURL := databaseFlag(fs)
	period := fs.String("period", "", "the month to bill, like 2026-10 (required; it must have ended)")
	sandbox := fs.Bool("sandbox", envBool("CLND_SANDBOX"), "use the sandbox test clock (CLND_SANDBOX)")
	pay := paymentFlagsOn(fs)
	logging := logFlagsOn(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := logging.logger(stderr)
	if err != nil {
		return err
	}
	defer func() { err = logging.failure(log, err) }()
	// As serve: a value the environment sets but that cannot be read
	// (CLND_PAYMENT_GRACE=abc) is refused, not replaced by the default.
	if err := errors.Join(envErrors...); err != nil {
		return err
	}
	var cfg server.Config
	if err := pay.apply(&cfg, *sandbox); err != nil {
		return err
	}
	p, err := billing.ParseMonth(*period)
	if err != nil {
		return fmt.Errorf("--period %q: want a month like 2026-10", *period)
	}
	db, err := openReady(ctx, *dbURL, logging.progress(stderr, log))
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := businessClock(ctx, db, *sandbox)
	if err != nil {
		return err
	}
	if now := c.Now(); now.Before(p.End) {
		return notEnded(p, now, *sandbox)
	}
	svc := cfg.AccountsService(db.Client, c, nil, log)
	// First finish what a run that died left pending (autopayments its
	// invoices made due), then bill; each due autopayment is settled as its
	// invoice commits.
	if settled, pending, err := svc.Reconcile(clock.NewContext(ctx, c)); err != nil {
		return err
	} else if settled+pending > 0 {
		fmt.Fprintf(stdout, "settled %d pending payments left by an earlier run (%d still pending)\n", settled, pending)
	}
	began := clock.Wall()
	invoices, err := billing.BillPeriodReporting(clock.NewContext(ctx, c), db.Client, p, svc.Autopay, log, resellerMeter(logging.progress(stderr, log), p))
	if err != nil && len(invoices) == 0 {
		return err // nothing billed: the error alone says what happened
	}
	fmt.Fprintf(stdout, "billed %s: %d invoices in %s\n", p, len(invoices), clock.Wall().Sub(began).Round(time.Millisecond))
	return err
}

// businessClock is the clock a subcommand dates its work by: the shared
// sandbox test clock, or the system clock.
func businessClock(ctx context.Context, db *store.DB, sandbox bool) (clock.Clock, error) {
	if !sandbox {
		return clock.System{}, nil
	}
	return testclock.Load(ctx, db.Client)
}
