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
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
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
  clnd import cln --url U --login L --reseller R [--dry-run]
                                        import a reseller's licenses and backups from a CLN-compatible API
  clnd version                          the module version and the commit it was built from
  clnd healthcheck [--url URL]          exit 0 if a running clnd answers /healthz (for containers)

Every subcommand takes --database-url (or CLND_DATABASE_URL):
  sqlite://<path>   the embedded database (default sqlite://./data/clnd.db)
  postgres://...    PostgreSQL (run 'clnd migrate' before 'clnd serve')

Run 'clnd <subcommand> -h' for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var stderr io.Writer = os.Stderr
	var jsonLog *slog.Logger // set when the command line asks for JSON logs
	if jsonStderr(os.Args[1:], os.Getenv) {
		stderr, jsonLog = stderrAsJSON(os.Stderr)
	}
	if err := run(ctx, os.Args[1:], os.Stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h printed the flags: asking for help is not a failure
		}
		var logged *loggedError
		switch {
		case errors.As(err, &logged):
			// Its last line, in the log's format (JSON): a log collector
			// sees why the process ended.
			logged.log.Error("clnd stopped", "err", logged.err)
		case jsonLog != nil:
			// Before the subcommand's logger existed (a bad flag).
			jsonLog.Error("clnd stopped", "err", err.Error())
		default:
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
		tuneGC(os.Getenv)
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
		tuneGC(os.Getenv) // it measures clnd as serve runs it
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "import":
		return importCmd(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version())
		return nil
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

// envErrors are environment variables a subcommand could not read; it
// refuses to start with them (envDuration, envInt).
var envErrors []error

// envDuration is a duration flag's default from the environment.
func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			envErrors = append(envErrors, fmt.Errorf("%s=%q is not a duration like 72h", name, v))
			return def
		}
		return d
	}
	return def
}

// envInt is an integer flag's default from the environment.
func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			envErrors = append(envErrors, fmt.Errorf("%s=%q is not a whole number", name, v))
			return def
		}
		return n
	}
	return def
}

// version is the module version and the commit, from the build information.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "clnd (no build information)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "clnd " + v + ", commit unknown (built without VCS information)"
	}
	if dirty {
		rev += " with local changes"
	}
	return "clnd " + v + ", commit " + rev + " of " + at + ", " + info.GoVersion
}

func envBool(name string) bool {
	v := os.Getenv(name)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "y", "yes", "on":
		return true
	case "", "0", "f", "false", "n", "no", "off":
		return false
	}
	// CLND_SANDBOX=On read as false would start in production mode.
	envErrors = append(envErrors, fmt.Errorf("%s=%q is not a yes or no (1/0, true/false, yes/no, on/off)", name, v))
	return false
}
