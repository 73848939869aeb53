package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that serve's logger and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// With --log-format json every line serve writes to stderr is a JSON
// object, and the lines written while handling a request name it.
func TestServeLogsJSONWithTheRequestID(t *testing.T) {
	addr := freeAddr(t)
	url := "sqlite://" + filepath.Join(t.TempDir(), "json.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--sandbox", "--addr", addr, "--database-url", url,
			"--log-format", "json", "--log-level", "debug"}, &stdout, &stderr)
	}()
	var resp *http.Response
	var err error
	for i := 0; i < 200; i++ {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", "req-json-log-test")
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The container image's HEALTHCHECK asks the same way.
	if out, _, err := runCLI(t, "healthcheck", "--url", "http://"+addr+"/healthz"); err != nil || out != "ok\n" {
		t.Fatalf("healthcheck of a running serve: %v %q", err, out)
	}
	if _, _, err := runCLI(t, "healthcheck", "--url", "http://"+addr+"/nowhere"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("healthcheck of a missing path: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve ended with %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}

	var requestLines int
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var record map[string]any
		if err := json.Unmarshal([]byte(line), &record); err != nil {
			t.Fatalf("a log line is not JSON: %q (%v)", line, err)
		}
		if record["msg"] != "request" {
			continue
		}
		if id, _ := record["request_id"].(string); id == "" {
			t.Fatalf("a request's line without its id: %s", line)
		}
		if record["path"] == "/graphql" {
			requestLines++
			if record["request_id"] != "req-json-log-test" {
				t.Fatalf("the request's line: %s", line)
			}
		}
	}
	if requestLines != 1 {
		t.Fatalf("%d request lines in\n%s", requestLines, stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
}

func TestLogFlagsRefuseUnknownValues(t *testing.T) {
	for _, args := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}} {
		_, _, err := runCLI(t, append([]string{"serve", "--sandbox", "--database-url", "sqlite://" + filepath.Join(t.TempDir(), "f.db")}, args...)...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Fatalf("%v answered %v", args, err)
		}
	}
}

// clnd bill logs JSON too, its migrations and progress included.
func TestBillLogsJSON(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "bill.db")
	stdout, stderr, err := runCLI(t, "bill", "--sandbox", "--period", "2026-10", "--database-url", url, "--log-format", "json")
	if err != nil {
		t.Fatalf("bill: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "billed 2026-10") {
		t.Fatalf("bill printed %q", stdout)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("a log line is not JSON: %q", line)
		}
	}
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("bill logged nothing (the migrations say what they did)")
	}
}

// With --log-format json, the error a process exits with is its log's last
// line, a JSON object like every other: a log collector sees why it ended.
func TestFailureIsTheLastJSONLine(t *testing.T) {
	bin := buildClnd(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--sandbox", "--addr", busy.Addr().String()}, "address already in use"},
		{[]string{"bill", "--sandbox", "--period", "2999-01"}, "2999-01"},
	} {
		args := append(tc.args, "--database-url", "sqlite://"+filepath.Join(dir, tc.args[0]+".db"), "--log-format", "json")
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Fatalf("%v exited 0", tc.args)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		var last map[string]any
		for _, line := range lines {
			if err := json.Unmarshal([]byte(line), &last); err != nil {
				t.Fatalf("%v: a line is not JSON: %q", tc.args, line)
			}
		}
		if msg, _ := last["err"].(string); last["level"] != "ERROR" || !strings.Contains(msg, tc.want) {
			t.Fatalf("%v: the last line is %v, want an ERROR whose err says %q", tc.args, last, tc.want)
		}
	}
}

// jsonStderr finds JSON logging asked for by the environment or by
// --log-format in either of its forms, the last one winning.
func TestJSONStderr(t *testing.T) {
	env := func(format string) func(string) string {
		return func(k string) string {
			if k == "CLND_LOG_FORMAT" {
				return format
			}
			return ""
		}
	}
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{
		{[]string{"serve", "--bogus"}, "json", true},
		{[]string{"serve", "--bogus"}, "", false},
		{[]string{"serve", "--log-format", "json", "--bogus"}, "", true},
		{[]string{"serve", "-log-format=json"}, "", true},
		{[]string{"serve", "--log-format=text"}, "json", false},
		{[]string{"serve", "--database-url", "log-format"}, "", false},
	} {
		if got := jsonStderr(tc.args, env(tc.env)); got != tc.want {
			t.Errorf("jsonStderr(%q, CLND_LOG_FORMAT=%q) = %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}
