package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

const hostile7Agent = `{"hostname":"abuse.example.com"}`

// hostile7Dial opens a connection to e's server with a 20 s deadline.
func hostile7Dial(t *testing.T, e *apitest.Env) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.Server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	return conn, bufio.NewReader(conn)
}

// hostile7Read reads one answer and its body.
func hostile7Read(t *testing.T, r *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// TestHostileLeanSlowBodyAfterACheckIn: on a keep-alive lean connection
// after a good check-in, a body trickled a byte at a time does not extend
// its time: 408 at BodyTimeout, and the connection closes.
func TestHostileLeanSlowBodyAfterACheckIn(t *testing.T) {
	e := apitest.New(t, "sqlite", apitest.WithConfig(shortBodyTimeout))
	seller := e.Register("lean-slowbody")
	e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
	conn, r := hostile7Dial(t, e)
	if _, err := io.WriteString(conn, checkInRequest(hostile7Agent)); err != nil {
		t.Fatal(err)
	}
	if resp, _ := hostile7Read(t, r); resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in: %s", resp.Status)
	}
	req := checkInRequest(hostile7Agent)
	head := req[:len(req)-len(hostile7Agent)]
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	go func() {
		for i := range len(hostile7Agent) - 1 { // never the last byte
			time.Sleep(50 * time.Millisecond)
			if _, err := io.WriteString(conn, hostile7Agent[i:i+1]); err != nil {
				return
			}
		}
	}()
	resp, _ := hostile7Read(t, r)
	took := time.Since(began)
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("a trickled body: %s (close %v), want 408 and the connection closed", resp.Status, resp.Close)
	}
	if took > time.Second {
		t.Errorf("a trickled body was answered after %v (BodyTimeout 300 ms)", took)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after the 408: %v, want EOF", err)
	}
}

// TestHostileLeanIdleTimeoutAfterACheckIn: a lean connection that sends
// nothing after its check-in is closed at IdleTimeout.
func TestHostileLeanIdleTimeoutAfterACheckIn(t *testing.T) {
	e := apitest.New(t, "sqlite", apitest.WithConfig(func(c *server.Config) { c.IdleTimeout = 300 * time.Millisecond }))
	seller := e.Register("lean-idle")
	e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
	conn, r := hostile7Dial(t, e)
	if _, err := io.WriteString(conn, checkInRequest(hostile7Agent)); err != nil {
		t.Fatal(err)
	}
	if resp, _ := hostile7Read(t, r); resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in: %s", resp.Status)
	}
	began := time.Now()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("an idle lean connection: %v, want EOF", err)
	}
	if took := time.Since(began); took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("an idle lean connection was closed after %v (IdleTimeout 300 ms)", took)
	}
}

// TestHostileLeanHalfClosed: agents that close their side once their
// check-ins are sent (one, or three pipelined) have every answer, each
// check-in recorded, then EOF.
func TestHostileLeanHalfClosed(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("lean-halfclose")
		ips := hostile7Licenses(t, e, seller, 4)
		for _, n := range []int{1, 3} {
			conn, r := hostile7Dial(t, e)
			var raw strings.Builder
			for i := range n {
				raw.WriteString(strings.Replace(checkInRequest(hostile7Agent), leanIP, ips[i], 1))
			}
			if _, err := io.WriteString(conn, raw.String()); err != nil {
				t.Fatal(err)
			}
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if resp, body := hostile7Read(t, r); resp.StatusCode != http.StatusOK {
					t.Errorf("%d pipelined then half-closed: answer %d is %s %s", n, i, resp.Status, body)
				}
			}
			if _, err := r.ReadByte(); err != io.EOF {
				t.Errorf("%d pipelined then half-closed, after the answers: %v, want EOF", n, err)
			}
		}
		recorded := hostile7Recorded(t, e)
		for _, ip := range ips[:3] {
			if !recorded[ip] {
				t.Errorf("%s: answered 200 after a half-close, not recorded", ip)
			}
		}
	})
}

// TestHostileLeanPipelinedNeverRead: an agent pipelines 2000 check-ins and
// reads nothing for a second, so the server's writes to it block (small
// socket buffers on both sides); meanwhile other agents are answered. Then
// it reads every answer, all 200, in order. Once more, and the server
// shuts down while its writes to the agent block: Serve returns within its
// 15 s grace, with or without lean connections.
func TestHostileLeanPipelinedNeverRead(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("lean-noread")
	e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
	for _, stop := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr, cancel, served := serveInstanceOn(t, e, e.Config, smallSendBuffers{ln})
		// A receive buffer set before connecting: set later, the window
		// already offered stays.
		dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
			})
		}}
		conn, err := dialer.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		const n = 2000
		var raw strings.Builder
		for i := range n {
			raw.WriteString(checkInRequest(hostile7Agent, "X-Request-ID: p"+strconv.Itoa(i)))
		}
		go func() { _, _ = io.WriteString(conn, raw.String()) }()
		time.Sleep(time.Second)
		if answered := hostile7LeanAnswered(t, addr); answered >= n {
			t.Fatalf("all %d check-ins were answered while the client read nothing: no write blocked", answered)
		}
		other, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		_ = other.SetDeadline(time.Now().Add(10 * time.Second))
		or := bufio.NewReader(other)
		for range 3 {
			if _, err := io.WriteString(other, checkInRequest(hostile7Agent)); err != nil {
				t.Fatal(err)
			}
			if resp, body := hostile7Read(t, or); resp.StatusCode != http.StatusOK {
				t.Fatalf("another agent while one reads nothing: %s %s", resp.Status, body)
			}
		}
		if stop {
			began := time.Now()
			cancel()
			select {
			case <-served:
			case <-time.After(20 * time.Second):
				t.Fatal("Serve did not return within 20 s with a write blocked")
			}
			if took := time.Since(began); took > 16*time.Second {
				t.Errorf("Serve returned %v after its context ended, with a write blocked (grace 15 s)", took)
			}
			return
		}
		r := bufio.NewReader(conn)
		for i := range n {
			resp, body := hostile7Read(t, r)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") != "p"+strconv.Itoa(i) {
				t.Fatalf("answer %d: %s %s (request %s)", i, resp.Status, body, resp.Header.Get("X-Request-Id"))
			}
		}
	}
}

// smallSendBuffers gives every accepted connection a 4 KiB send buffer,
// so that a client reading nothing blocks the server's writes soon.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// TestHostileLeanResetsAndIdleThousands: 1500 lean connections check in
// once and stay idle, 200 more are reset (RST) in the middle of a head or a
// body; a new agent is still answered at once, and closing the server
// gives every goroutine back.
func TestHostileLeanResetsAndIdleThousands(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("lean-thousands")
	e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
	baseline := runtime.NumGoroutine()
	addr, cancel, served := serveInstance(t, e, nil)
	const idle, resets = 1500, 200
	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range idle + resets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			req := checkInRequest(hostile7Agent)
			if i >= idle {
				// Cut short, then reset.
				_, _ = io.WriteString(conn, req[:len(req)-i%60-1])
				time.Sleep(time.Millisecond)
				_ = conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
				return
			}
			if _, err := io.WriteString(conn, req); err != nil {
				t.Error(err)
				conn.Close()
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Error(err)
				conn.Close()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("check-in %d: %s", i, resp.Status)
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// A new agent among them.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	if _, err := io.WriteString(conn, checkInRequest(hostile7Agent)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a check-in among %d idle connections: %v %v", idle, err, resp)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("a check-in among %d idle connections took %v", idle, took)
	}
	if took := stopServing(t, cancel, served); took > 3*time.Second {
		t.Errorf("shutting down with %d idle lean connections took %v", idle, took)
	}
	for _, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("an idle lean connection after shutdown: %v, want EOF", err)
			break
		}
	}
	hostile7Goroutines(t, baseline+10)
}

// hostile7LeanAnswered is clnd_lean_connections_total{outcome="answered"}
// of the server at addr.
func hostile7LeanAnswered(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^clnd_lean_connections_total\{outcome="answered"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
