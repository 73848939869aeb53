package main

import (
	"errors"
	"flag"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// A newcomer's first minutes (issue 13, items 2 and 3): a busy port is
// reported before anything claims to serve, and names the way out; -h is
// help, not a failure; version says what was built; every serve flag that
// takes a number reads its environment variable, and a bad one is refused.
func TestServeBindsBeforeItSaysServing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	stdout, _, err := runCLI(t, "serve", "--sandbox", "--addr", busy.Addr().String(),
		"--database-url", "sqlite://"+filepath.Join(t.TempDir(), "c.db"))
	if err == nil || !strings.Contains(err.Error(), "--addr") || !strings.Contains(err.Error(), "CLND_ADDR") {
		t.Fatalf("a busy port answered %v", err)
	}
	t.Logf("busy port: %v", err)
	if strings.Contains(stdout, "GraphiQL") {
		t.Fatalf("printed the GraphiQL address for a port it could not bind:\n%s", stdout)
	}
}

func TestHelpAndVersion(t *testing.T) {
	if _, stderr, err := runCLI(t, "serve", "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "CLND_STALE_AFTER") {
		t.Fatalf("serve -h: %v\n%s", err, stderr)
	}
	stdout, _, err := runCLI(t, "version")
	if err != nil || !strings.HasPrefix(stdout, "clnd ") || !strings.Contains(stdout, "commit") {
		t.Fatalf("version: %v %q", err, stdout)
	}
}

func TestServeReadsNumericFlagsFromTheEnvironment(t *testing.T) {
	t.Setenv("CLND_STALE_AFTER", "three days")
	_, _, err := runCLI(t, "serve", "--sandbox", "--addr", "127.0.0.1:0",
		"--database-url", "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
	if err == nil || !strings.Contains(err.Error(), "CLND_STALE_AFTER") {
		t.Fatalf("a bad CLND_STALE_AFTER answered %v", err)
	}
	t.Setenv("CLND_STALE_AFTER", "48h")
	t.Setenv("CLND_BACKUP_MIN_GB", "20")
	t.Setenv("CLND_BACKUP_MAX_GB", "10")
	_, _, err = runCLI(t, "serve", "--sandbox", "--addr", "127.0.0.1:0",
		"--database-url", "sqlite://"+filepath.Join(t.TempDir(), "e.db"))
	if err == nil || !strings.Contains(err.Error(), "--backup-min-gb 20") {
		t.Fatalf("CLND_BACKUP_MIN_GB/MAX_GB were not read: %v", err)
	}
}

// A second serve on the same SQLite file is refused with a message that
// says why (issue 13, item 6); another file is fine.
func TestSecondServeOnOneSQLiteFileIsRefused(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "one.db")
	release, err := lockSQLite(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "serve", "--sandbox", "--addr", "127.0.0.1:0", "--database-url", url)
	if err == nil || !strings.Contains(err.Error(), "another clnd serve") || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("a second serve on one SQLite file answered %v", err)
	}
	release()
	again, err := lockSQLite(url)
	if err != nil {
		t.Fatalf("the lock outlived its holder: %v", err)
	}
	again()
}
