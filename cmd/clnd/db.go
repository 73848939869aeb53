package main

import (
	"context"
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
	sandbox := fs.Bool("sandbox", envBool("CLND_SANDBOX"), "date the data by the sandbox test clock (CLND_SANDBOX)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*demo {
		return fmt.Errorf("nothing to seed: pass --demo")
	}
	db, err := openReady(ctx, *dbURL, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	var c clock.Clock = clock.System{}
	if *sandbox {
		if c, err = testclock.Load(ctx, db.Client); err != nil {
			return err
		}
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
