// Command clnd is the license-reseller back end: `clnd serve` runs the API,
// the other subcommands administer its database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `clnd — license-reseller back end

Usage:
  clnd serve [flags]                    serve the GraphQL API
  clnd migrate [flags]                  bring the database schema up to date
  clnd admin create-token --name NAME   create an operator token (printed once)
  clnd seed --demo [flags]              add the demo reseller and its data
  clnd seed --bench [--scale S]         fill an empty database with the benchmark data set
  clnd bill --period YYYY-MM            bill an ended month now (what the scheduler does)
  clnd bench [flags]                    the read benchmark on PostgreSQL (docs/performance.md)

Every subcommand takes --database-url (or CLND_DATABASE_URL):
  sqlite://<path>   the embedded database (default sqlite://./data/clnd.db)
  postgres://...    PostgreSQL (run 'clnd migrate' before 'clnd serve')

Run 'clnd <subcommand> -h' for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "clnd:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no subcommand")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], stdout, stderr)
	case "admin":
		if len(args) < 2 || args[1] != "create-token" {
			fmt.Fprint(stderr, usage)
			return errors.New("unknown admin command; want 'admin create-token'")
		}
		return createToken(ctx, args[2:], stdout, stderr)
	case "seed":
		return seedCmd(ctx, args[1:], stdout, stderr)
	case "bill":
		return billCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// env returns the environment variable or the default.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	switch os.Getenv(name) {
	case "1", "true", "TRUE", "yes":
		return true
	}
	return false
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
