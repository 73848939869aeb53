package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileEveryFailureIsJSON: with --log-format json, every way serve and
// bill fail once their logger exists (bad environment values, bad flag
// values, a busy port, an unreachable or unmigrated database) exits 1, and
// every line on stderr is a JSON object, the last an ERROR saying why. A bad
// environment value is refused by bill as serve refuses it, not silently
// replaced by the default.
func TestHostileEveryFailureIsJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildClnd(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// A port nothing listens on: the database is unreachable.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "postgres://clnd@" + closed.Addr().String() + "/clnd?sslmode=disable&connect_timeout=2"
	closed.Close()
	dir := t.TempDir()
	sqlite := func(name string) string { return "sqlite://" + filepath.Join(dir, name+".db") }
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"serve, a session TTL that is no duration", []string{"CLND_SESSION_TTL=abc"}, []string{"serve", "--sandbox", "--database-url", sqlite("ttl")}, "CLND_SESSION_TTL"},
		{"serve, a backup size that is no number", []string{"CLND_BACKUP_MIN_GB=x"}, []string{"serve", "--sandbox", "--database-url", sqlite("gb")}, "CLND_BACKUP_MIN_GB"},
		{"serve, backup sizes out of order", nil, []string{"serve", "--sandbox", "--backup-min-gb", "5", "--backup-max-gb", "2", "--database-url", sqlite("order")}, "--backup-min-gb"},
		{"serve, a bad proxy list", nil, []string{"serve", "--sandbox", "--trusted-proxies", "nope", "--database-url", sqlite("proxies")}, "nope"},
		{"serve, a bad minimum deposit", nil, []string{"serve", "--sandbox", "--min-deposit", "1e3", "--database-url", sqlite("deposit")}, "--min-deposit"},
		{"serve, a busy port", nil, []string{"serve", "--sandbox", "--addr", busy.Addr().String(), "--database-url", sqlite("busy")}, "address already in use"},
		{"serve, an unreachable database", nil, []string{"serve", "--sandbox", "--database-url", unreachable}, "connect"},
		{"serve, a database URL of no known kind", nil, []string{"serve", "--sandbox", "--database-url", "mysql://x"}, "mysql"},
		{"bill, a bad period", nil, []string{"bill", "--sandbox", "--period", "october", "--database-url", sqlite("period")}, "october"},
		{"bill, an unreachable database", nil, []string{"bill", "--sandbox", "--period", "2026-10", "--database-url", unreachable}, "connect"},
		{"serve, an unknown flag (before the logger exists)", nil, []string{"serve", "--no-such-flag"}, "no-such-flag"},
		{"migrate, an unknown flag, JSON asked by the environment", []string{"CLND_LOG_FORMAT=json"}, []string{"migrate", "--bogus"}, "bogus"},
		{"bill, a payment grace that is no duration", []string{"CLND_PAYMENT_GRACE=abc"}, []string{"bill", "--sandbox", "--period", "2026-10", "--database-url", sqlite("grace")}, "CLND_PAYMENT_GRACE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, append(tc.args, "--log-format", "json")...)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "CLND_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, tc.env...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exited with %v, want exit status 1; stderr:\n%s", err, stderr.String())
			}
			var last map[string]any
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if err := json.Unmarshal([]byte(line), &last); err != nil {
					t.Fatalf("a stderr line is not JSON: %q", line)
				}
			}
			if msg, _ := last["err"].(string); last["level"] != "ERROR" || !strings.Contains(msg, tc.want) {
				t.Fatalf("the last line is %v, want an ERROR whose err says %q", last, tc.want)
			}
		})
	}
}
