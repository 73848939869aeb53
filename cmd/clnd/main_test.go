package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The operator's path on either database: migrate, create a token, seed, serve,
// query with the token, stop with a signal.
func TestMigrateTokenSeedServe(t *testing.T) {
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			url := apitest.URL(t, backend)
			if out, _, err := runCLI(t, "migrate", "--database-url", url); err != nil || !strings.Contains(out, "up to date") {
				t.Fatalf("migrate: %v\n%s", err, out)
			}
			out, _, err := runCLI(t, "admin", "create-token", "--name", "ops", "--database-url", url)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			token := lines[len(lines)-1]
			if !strings.HasPrefix(token, "clnd_op_") || strings.Contains(token, " ") {
				t.Fatalf("the last line of stdout is not the token alone: %q", out)
			}
			if out, _, err := runCLI(t, "seed", "--demo", "--database-url", url); err != nil || !strings.Contains(out, "demo reseller created") {
				t.Fatalf("seed: %v %s", err, out)
			}
			if out, _, _ := runCLI(t, "seed", "--demo", "--database-url", url); !strings.Contains(out, "already exists") {
				t.Fatalf("a second seed: %s", out)
			}

			addr := freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				var stdout, stderr bytes.Buffer
				done <- run(ctx, []string{"serve", "--sandbox", "--addr", addr, "--database-url", url}, &stdout, &stderr)
			}()
			body := `{"query":"{ ipLicenses(first: 2) { totalCount edges { cursor node { ip } } } }"}`
			var resp *http.Response
			for i := 0; i < 100; i++ {
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				if resp, err = http.DefaultClient.Do(req); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			var out2 struct {
				Data struct {
					IPLicenses struct {
						TotalCount int
						Edges      []struct{ Cursor string }
					}
				}
			}
			_ = json.NewDecoder(resp.Body).Decode(&out2)
			resp.Body.Close()
			if out2.Data.IPLicenses.TotalCount != 8 || len(out2.Data.IPLicenses.Edges) != 2 || out2.Data.IPLicenses.Edges[0].Cursor == "" {
				t.Fatalf("served answer %+v", out2)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve ended with %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
}

func TestServeRefusesWhatItCannotRun(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCLI(t, "serve", "--database-url", "sqlite://"+filepath.Join(dir, "a.db")); err == nil ||
		!strings.Contains(err.Error(), "sandbox") {
		t.Fatalf("production mode with the sandbox gateway: %v", err)
	}
	if _, _, err := runCLI(t, "serve", "--sandbox", "--database-url", pgtest.DSN(t)); err == nil ||
		!strings.Contains(err.Error(), "clnd migrate") {
		t.Fatalf("unmigrated PostgreSQL: %v", err)
	}
	if _, _, err := runCLI(t, "serve", "--sandbox", "--trusted-proxies", "not-an-ip"); err == nil {
		t.Fatal("a bad --trusted-proxies was accepted")
	}
	if _, _, err := runCLI(t, "admin", "create-token", "--database-url", "sqlite://"+filepath.Join(dir, "b.db")); err == nil {
		t.Fatal("create-token without --name succeeded")
	}
	if _, _, err := runCLI(t, "frobnicate"); err == nil {
		t.Fatal("an unknown subcommand succeeded")
	}
}

// A payment provider without its secrets refuses to start, naming what is
// missing and never echoing a secret it was given.
func TestServeRefusesIncompletePaymentProviders(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "p.db")
	t.Setenv("CLND_STRIPE_SECRET_KEY", "sk_test_secret_value_123")
	t.Setenv("CLND_STRIPE_WEBHOOK_SECRET", "")
	stdout, stderr, err := runCLI(t, "serve", "--sandbox", "--card-gateway", "stripe", "--database-url", db)
	if err == nil || !strings.Contains(err.Error(), "CLND_STRIPE_WEBHOOK_SECRET") || strings.Contains(err.Error(), "CLND_STRIPE_SECRET_KEY") {
		t.Fatalf("stripe without its webhook secret: %v", err)
	}
	if strings.Contains(stdout+stderr+err.Error(), "sk_test_secret_value_123") {
		t.Fatal("a secret was printed")
	}
	t.Setenv("CLND_PAYPAL_CLIENT_ID", "id")
	t.Setenv("CLND_PAYPAL_CLIENT_SECRET", "")
	t.Setenv("CLND_PAYPAL_WEBHOOK_ID", "")
	t.Setenv("CLND_PAYPAL_ENV", "")
	if _, _, err := runCLI(t, "serve", "--sandbox", "--checkout-provider", "paypal", "--database-url", db); err == nil ||
		!strings.Contains(err.Error(), "CLND_PAYPAL_CLIENT_SECRET, CLND_PAYPAL_WEBHOOK_ID, CLND_PAYPAL_ENV") {
		t.Fatalf("paypal without its secrets: %v", err)
	}
	t.Setenv("CLND_PAYPAL_CLIENT_SECRET", "s")
	t.Setenv("CLND_PAYPAL_WEBHOOK_ID", "w")
	t.Setenv("CLND_PAYPAL_ENV", "production")
	if _, _, err := runCLI(t, "serve", "--sandbox", "--checkout-provider", "paypal", "--database-url", db); err == nil ||
		!strings.Contains(err.Error(), "CLND_PAYPAL_ENV") {
		t.Fatalf("an unknown PayPal environment: %v", err)
	}
	for _, args := range [][]string{{"--card-gateway", "paypal"}, {"--checkout-provider", "stripe"}, {"--payment-grace", "0s"}} {
		if _, _, err := runCLI(t, append([]string{"serve", "--sandbox", "--database-url", db}, args...)...); err == nil {
			t.Fatalf("%v was accepted", args)
		}
	}
	// Production mode with real providers still refuses a sandbox checkout.
	t.Setenv("CLND_STRIPE_WEBHOOK_SECRET", "whsec_x")
	if _, _, err := runCLI(t, "serve", "--card-gateway", "stripe", "--database-url", db); err == nil || !strings.Contains(err.Error(), "sandbox") {
		t.Fatalf("production with the sandbox checkout: %v", err)
	}
}

// buildClnd builds the clnd binary into the test's temporary folder, for
// the tests that run real processes (Go's build cache makes all but the
// first build a link).
func buildClnd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "clnd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// databaseFor returns a fresh database of backend for the process tests,
// migrated by bin's `clnd migrate` on PostgreSQL (`serve` refuses an
// unmigrated one; SQLite is migrated by serve itself).
func databaseFor(t *testing.T, bin, backend string) string {
	t.Helper()
	url := apitest.URL(t, backend)
	if backend == "postgres" {
		if out, err := exec.Command(bin, "migrate", "--database-url", url).CombinedOutput(); err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
	}
	return url
}

// killTestDatabase builds clnd and gives a kill test a migrated PostgreSQL
// database, its URL and a connection to it that lives as long as the test.
func killTestDatabase(t *testing.T) (bin, url string, db *sql.DB) {
	t.Helper()
	bin = buildClnd(t)
	url = databaseFor(t, bin, "postgres")
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return bin, url, db
}

// Yes/no environment variables take the usual spellings, in any case, and
// refuse anything else: CLND_SANDBOX=On read as "no" started production mode.
func TestEnvBoolSpellings(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "True": true, "YES": true, "on": true, " On ": true,
		"": false, "0": false, "false": false, "No": false, "off": false} {
		t.Setenv("CLND_TEST_BOOL", v)
		envErrors = nil
		if got := envBool("CLND_TEST_BOOL"); got != want || len(envErrors) > 0 {
			t.Errorf("CLND_TEST_BOOL=%q: %v (errors %v), want %v", v, got, envErrors, want)
		}
	}
	t.Setenv("CLND_SANDBOX", "maybe")
	for _, args := range [][]string{{"serve"}, {"bill", "--period", "2026-10"}, {"seed", "--demo"}} {
		args = append(args, "--database-url", "sqlite://"+filepath.Join(t.TempDir(), "b.db"))
		if _, _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), `CLND_SANDBOX="maybe"`) {
			t.Errorf("%v with CLND_SANDBOX=maybe: %v", args[0], err)
		}
	}
}
