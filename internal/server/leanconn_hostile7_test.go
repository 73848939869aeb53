package server_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// hostile7Serve runs a second instance on e's database through Serve (as
// clnd serve does), with cfg edited by edit, and returns its address, the
// cancel that starts its shutdown and the channel Serve's error arrives on.
func hostile7Serve(t *testing.T, e *apitest.Env, edit func(*server.Config)) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg := e.Config
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.New(cfg, e.DB, e.Clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			addr, cancel, served := hostile7Serve(t, e, func(c *server.Config) { c.NetHTTPOnly = netHTTP })
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
			if took := time.Since(began); took > 3*time.Second {
				t.Errorf("shutting down with a head half sent took %v (net/http closes such a connection at once)", took)
			}
			if _, err := r.ReadByte(); err == nil {
				t.Error("the connection with a half-sent head answered after shutdown")
			}
		})
	}
}
