package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// serveInstance runs a second instance on e's database through Serve (as
// clnd serve does), with cfg edited by edit, and returns its address, the
// cancel that starts its shutdown and the channel Serve's error arrives on.
func serveInstance(t *testing.T, e *apitest.Env, edit func(*server.Config)) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg := e.Config
	if edit != nil {
		edit(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveInstanceOn(t, e, cfg, ln)
}

// stopServing ends Serve's context and returns how long Serve took to
// return, failing the test on an error or past 20 s.
func stopServing(t *testing.T, cancel context.CancelFunc, served <-chan error) time.Duration {
	t.Helper()
	began := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return within 20 s")
	}
	return time.Since(began)
}

// serveInstanceOn is serveInstance with cfg on ln.
func serveInstanceOn(t *testing.T, e *apitest.Env, cfg server.Config, ln net.Listener) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	srv, err := server.New(cfg, e.DB, e.Clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		err := srv.Serve(ctx, ln)
		close(ended)
		served <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return within 20 s of its context's end")
		}
	})
	return ln.Addr().String(), cancel, served
}

// hostile7CheckIn writes one agent's check-in on conn and reads its answer.
func hostile7CheckIn(t *testing.T, conn net.Conn, r *bufio.Reader, hostname string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(conn, checkInRequest(`{"hostname":"`+hostname+`"}`)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestHostileLeanSlowHeadDoesNotHoldShutdown: a keep-alive connection whose
// next request's head is still arriving is idle to net/http's Shutdown
// (StateIdle until the head is whole), which closes it at once. On a lean
// connection it held Serve's shutdown for the header timeout (10 s): any
// client trickling a head held every graceful restart.
func TestHostileLeanSlowHeadDoesNotHoldShutdown(t *testing.T) {
	for _, netHTTP := range []bool{false, true} {
		name := "lean"
		if netHTTP {
			name = "net-http-only"
		}
		t.Run(name, func(t *testing.T) {
			e := apitest.New(t, "sqlite")
			seller := e.Register("lean-slowhead")
			e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
			addr, cancel, served := serveInstance(t, e, func(c *server.Config) { c.NetHTTPOnly = netHTTP })
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(conn)
			if resp := hostile7CheckIn(t, conn, r, "slow1.example.com"); resp.StatusCode != http.StatusOK {
				t.Fatalf("check-in: %s", resp.Status)
			}
			// The next check-in's head, in part, and then nothing.
			if _, err := io.WriteString(conn, "POST /v1/checkin HTTP/1.1\r\nHost: clnd.test\r\nContent-"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			if took := stopServing(t, cancel, served); took > 3*time.Second {
				t.Errorf("shutting down with a head half sent took %v (net/http closes such a connection at once)", took)
			}
			if _, err := r.ReadByte(); err == nil {
				t.Error("the connection with a half-sent head answered after shutdown")
			}
		})
	}
}

// hostile7Licenses imports n IP licenses for seller (IPv6 documentation
// addresses, accepted in sandbox mode) and returns their addresses.
func hostile7Licenses(t *testing.T, e *apitest.Env, seller apitest.Reseller, n int) []string {
	t.Helper()
	ips := make([]string, n)
	licenses := make([]map[string]any, n)
	for i := range ips {
		ips[i] = fmt.Sprintf("2001:db8::7:%x", i+1)
		licenses[i] = map[string]any{"ip": ips[i], "type": "KERNELCARE", "addedAt": apitest.Start.Format(time.RFC3339)}
	}
	var out struct {
		ImportIPLicenses struct{ Licenses []struct{ ID string } }
	}
	e.Query(e.OperatorToken, `mutation($in: ImportIPLicensesInput!) { importIPLicenses(input: $in) { licenses { id } } }`,
		map[string]any{"in": map[string]any{"resellerID": seller.ID, "licenses": licenses}}, &out)
	if len(out.ImportIPLicenses.Licenses) != n {
		t.Fatalf("imported %d licenses, want %d", len(out.ImportIPLicenses.Licenses), n)
	}
	return ips
}

// hostile7Recorded is the set of addresses whose license has a check-in.
func hostile7Recorded(t *testing.T, e *apitest.Env) map[string]bool {
	t.Helper()
	rows, err := e.DB.SQL.Query(`SELECT ip FROM ip_licenses WHERE last_check_in IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			t.Fatal(err)
		}
		got[ip] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// hostile7Goroutines waits (5 s at most) until the goroutines are back to
// at most want, and reports them grouped by stack if they are not.
func hostile7Goroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostileLeanCheckInsWhileShuttingDown: many agents check in on lean
// connections (one at a time, two pipelined, or each followed by a request
// handed to net/http) while the instance shuts down. Every check-in
// answered 200 is recorded, every other answer is 503, Serve returns
// within a few seconds (no connection is slow) and every goroutine is given
// back.
func TestHostileLeanCheckInsWhileShuttingDown(t *testing.T) {
	for _, driver := range apitest.Backends {
		t.Run(driver, func(t *testing.T) {
			e := apitest.New(t, driver)
			seller := e.Register("lean-stopping")
			const clients, each = 24, 25
			ips := hostile7Licenses(t, e, seller, clients*each)
			baseline := runtime.NumGoroutine()
			addr, cancel, served := serveInstance(t, e, nil)
			var (
				mu       sync.Mutex
				acked    []string
				refused  int
				ackedNow atomic.Int64
				wg       sync.WaitGroup
			)
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var conn net.Conn
					var r *bufio.Reader
					defer func() {
						if conn != nil {
							conn.Close()
						}
					}()
					for j := 0; j < each; {
						if conn == nil {
							var err error
							if conn, err = net.Dial("tcp", addr); err != nil {
								return // the listener is closed
							}
							_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
							r = bufio.NewReader(conn)
						}
						batch := mine(ips, c, clients, j, 1+c%2) // odd clients pipeline two
						var raw strings.Builder
						for _, ip := range batch {
							raw.WriteString(strings.Replace(checkInRequest(`{"hostname":"stop.example.com"}`), leanIP, ip, 1))
						}
						handover := c%3 == 0 && j%5 == 4
						if handover {
							raw.WriteString("GET /healthz HTTP/1.1\r\nHost: clnd.test\r\n\r\n")
						}
						if _, err := io.WriteString(conn, raw.String()); err != nil {
							conn.Close()
							conn = nil
							continue
						}
						j += len(batch)
						for i, ip := range batch {
							resp, err := http.ReadResponse(r, nil)
							if err != nil {
								conn.Close()
								conn = nil
								break
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							mu.Lock()
							switch resp.StatusCode {
							case http.StatusOK:
								acked = append(acked, ip)
								ackedNow.Add(1)
							case http.StatusServiceUnavailable:
								refused++
							default:
								t.Errorf("check-in %d of %s answered %s", i, ip, resp.Status)
							}
							mu.Unlock()
							if resp.Close {
								conn.Close()
								conn = nil
								break
							}
						}
						if conn != nil && handover {
							resp, err := http.ReadResponse(r, nil)
							if err != nil {
								conn.Close()
								conn = nil
								continue
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			for ackedNow.Load() < clients*each/4 {
				time.Sleep(time.Millisecond)
			}
			took := stopServing(t, cancel, served)
			wg.Wait()
			if took > 5*time.Second {
				t.Errorf("Serve took %v to shut down under check-ins", took)
			}
			recorded := hostile7Recorded(t, e)
			mu.Lock()
			defer mu.Unlock()
			for _, ip := range acked {
				if !recorded[ip] {
					t.Errorf("%s: its check-in was answered 200 but is not recorded", ip)
				}
			}
			t.Logf("%d check-ins answered 200 (%d recorded), %d refused, shutdown took %v", len(acked), len(recorded), refused, took)
			hostile7Goroutines(t, baseline+10)
		})
	}
}

// mine is client c's next n addresses from its j-th on (of every
// clients-th address), fewer at its end.
func mine(ips []string, c, clients, j, n int) []string {
	var out []string
	for k := j; k < j+n && c+k*clients < len(ips); k++ {
		out = append(out, ips[c+k*clients])
	}
	return out
}
