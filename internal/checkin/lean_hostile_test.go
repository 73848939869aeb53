package checkin_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// rawConn is a TCP connection to e's server, for requests net/http's client
// would not send.
type rawConn struct {
	t    *testing.T
	conn *net.TCPConn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, e *apitest.Env) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", e.Server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, conn: c.(*net.TCPConn), r: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) response() (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, string(body)
}

func checkInHead(ip string, header string) string {
	return "POST /v1/checkin HTTP/1.1\r\nHost: clnd\r\nX-Forwarded-For: " + ip + "\r\nContent-Type: application/json\r\n" + header + "\r\n"
}

// What arrives on the wire other than in one well-formed piece: a body cut
// short of its Content-Length, chunked bodies (whole, cut short, over the
// limit), Expect: 100-continue, pipelined check-ins. Only the complete ones
// check in; each answer has a Content-Length.
func TestHostileLeanCheckInOnTheWire(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		for i := 1; i <= 8; i++ {
			e.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", i), "KERNELCARE", "kept")
		}
		hostname := func(i int) string {
			t.Helper()
			return lastCheckIns(t, e, r.Token)[fmt.Sprintf("203.0.113.%d KERNELCARE", i)].Hostname
		}
		body := `{"hostname":"complete"}`

		// 1. A complete JSON object, but shorter than the Content-Length promised.
		c := dialRaw(t, e)
		c.send(checkInHead("203.0.113.1", fmt.Sprintf("Content-Length: %d\r\n", len(body)+10)) + body)
		_ = c.conn.CloseWrite()
		if resp, b := c.response(); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a body cut short of its Content-Length answered %d: %s", resp.StatusCode, b)
		}

		// 2. Chunked, whole.
		c = dialRaw(t, e)
		c.send(checkInHead("203.0.113.2", "Transfer-Encoding: chunked\r\n") +
			fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 5, body[:5], len(body)-5, body[5:]))
		if resp, b := c.response(); resp.StatusCode != http.StatusOK {
			t.Errorf("a chunked check-in answered %d: %s", resp.StatusCode, b)
		} else if resp.ContentLength < 0 {
			t.Errorf("a check-in answered without a Content-Length")
		}

		// 3. Chunked, cut short (a complete object, no last chunk).
		c = dialRaw(t, e)
		c.send(checkInHead("203.0.113.3", "Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n%s\r\n", len(body), body))
		_ = c.conn.CloseWrite()
		if resp, b := c.response(); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a chunked body without its last chunk answered %d: %s", resp.StatusCode, b)
		}

		// 4. Chunked, over the limit (1 MiB by default).
		c = dialRaw(t, e)
		c.send(checkInHead("203.0.113.4", "Transfer-Encoding: chunked\r\n"))
		chunk := strings.Repeat(" ", 64<<10)
		tooLarge := false
		for i := 0; i < 17 && !tooLarge; i++ {
			if _, err := fmt.Fprintf(c.conn, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				tooLarge = true // the server answered and stopped reading
			}
		}
		_, _ = io.WriteString(c.conn, "0\r\n\r\n")
		if resp, b := c.response(); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a chunked body over the limit answered %d: %s", resp.StatusCode, b)
		}

		// 5. Expect: 100-continue: the body is sent once the server asks for it.
		c = dialRaw(t, e)
		c.send(checkInHead("203.0.113.5", fmt.Sprintf("Content-Length: %d\r\nExpect: 100-continue\r\n", len(body))))
		line, err := c.r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
			t.Fatalf("Expect: 100-continue answered %q (%v)", line, err)
		}
		if blank, _ := c.r.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("after 100 Continue: %q", blank)
		}
		c.send(body)
		if resp, b := c.response(); resp.StatusCode != http.StatusOK {
			t.Errorf("a check-in after 100 Continue answered %d: %s", resp.StatusCode, b)
		}

		// 6. Expect: 100-continue over the limit: refused before the body.
		c = dialRaw(t, e)
		c.send(checkInHead("203.0.113.6", "Content-Length: 5000000\r\nExpect: 100-continue\r\n"))
		if resp, b := c.response(); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a promised body over the limit answered %d: %s", resp.StatusCode, b)
		}

		// 7. Two check-ins pipelined in one write: both answered, in order.
		c = dialRaw(t, e)
		second := `{"hostname":"pipelined"}`
		c.send(checkInHead("203.0.113.7", fmt.Sprintf("Content-Length: %d\r\n", len(body))) + body +
			checkInHead("203.0.113.8", fmt.Sprintf("Content-Length: %d\r\n", len(second))) + second)
		for i := 0; i < 2; i++ {
			if resp, b := c.response(); resp.StatusCode != http.StatusOK {
				t.Errorf("pipelined check-in %d answered %d: %s", i+1, resp.StatusCode, b)
			}
		}

		for i, want := range map[int]string{1: "kept", 2: "complete", 3: "kept", 4: "kept", 5: "complete", 6: "kept", 7: "complete", 8: "pipelined"} {
			if got := hostname(i); got != want {
				t.Errorf("203.0.113.%d: hostname %q, want %q", i, got, want)
			}
		}
	})
}

// JSON the fast path must not read on its own: escaped or null duplicates
// of a key it has read are still refused, escaped keys are still keys.
func TestHostileLeanCheckInJSONKeys(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		e.AddLicense(r.Token, "203.0.113.10", "KERNELCARE", "kept")
		from := map[string]string{"X-Forwarded-For": "203.0.113.10"}
		for _, body := range []string{
			`{"hostname":"a","host\u006eame":"b"}`,
			`{"host\u006eame":"b","hostname":"a"}`,
			`{"hostname":"a","hostname":null}`,
			`{"hostname":"a","credential":"x","credential":"y"}`,
			`{"hostname":"a"}` + "\x00",
			"\ufeff" + `{"hostname":"a"}`,
			`{"hostname":"a"}garbage`,
			`{"hostname":"a" "credential":"x"}`,
			`{"hostname":"a",}`,
			`{"hostname"  "a"}`,
			`{"` + strings.Repeat("k", 200<<10) + `":"a"}`,
		} {
			got := e.PostCheckIn(http.MethodPost, jsonType, body, from)
			if got.Status != http.StatusBadRequest || got.Code() != "BAD_USER_INPUT" {
				t.Errorf("%.60q answered %d: %.200s", body, got.Status, got.Raw)
			}
		}
		if got := ok(t, e.PostCheckIn(http.MethodPost, jsonType, `{"host\u006eame":"web\u0031"}`, from)); got.Status != 200 {
			t.Fatal(got.Status)
		}
		if h := lastCheckIns(t, e, r.Token)["203.0.113.10 KERNELCARE"].Hostname; h != "web1" {
			t.Fatalf("an escaped key and value were read as %q", h)
		}
	})
}

// A client that promises a body and never sends it costs clnd about what
// any idle connection costs, not the promised size: many such connections
// must not make clnd hold 64 KiB each.
func TestHostileLeanCheckInPromisedBodies(t *testing.T) {
	e := apitest.New(t, "sqlite")
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const conns = 200
	before := heap()
	var open []*rawConn
	for i := 0; i < conns; i++ {
		c := dialRaw(t, e)
		c.send(checkInHead("203.0.113.1", "Content-Length: 65536\r\n") + "{")
		open = append(open, c)
	}
	time.Sleep(500 * time.Millisecond) // every handler is waiting for its body
	grown := heap() - before
	if per := grown / conns; per > 48<<10 {
		t.Fatalf("%d connections that promised 64 KiB bodies and sent 1 byte hold %d KiB each", conns, per>>10)
	}
	t.Logf("%d bytes per connection", grown/conns)
	for _, c := range open {
		c.conn.Close()
	}
}

// A complete check-in whose client then half-closes its connection
// (shutdown(SHUT_WR), as `nc -N` does) is answered, not 500 INTERNAL
// (context canceled) (review repro, fixed in 5da1363).
func TestHostileHalfClosedCheckIn(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		e.AddLicense(r.Token, "203.0.113.1", "KERNELCARE", "kept")
		body := `{"hostname":"complete"}`
		c := dialRaw(t, e)
		c.send(checkInHead("203.0.113.1", fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n", len(body))) + body)
		_ = c.conn.CloseWrite()
		resp, b := c.response()
		h := lastCheckIns(t, e, r.Token)["203.0.113.1 KERNELCARE"].Hostname
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a complete check-in, then a half-close, answered %d: %s (hostname now %q)", resp.StatusCode, b, h)
		}
	})
}

// A half-closed check-in whose batch cannot be written in time (its row is
// locked) is answered UNAVAILABLE with Retry-After after the grace period,
// never INTERNAL, and never left hanging.
func TestHalfClosedCheckInNotConfirmedInTime(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutShadow())
	r := e.Register("alice")
	e.AddLicense(r.Token, "203.0.113.1", "KERNELCARE", "kept")
	tx, err := e.DB.SQL.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM ip_licenses WHERE ip = '203.0.113.1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	body := `{"hostname":"held"}`
	c := dialRaw(t, e)
	start := time.Now()
	c.send(checkInHead("203.0.113.1", fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n", len(body))) + body)
	_ = c.conn.CloseWrite()
	resp, b := c.response()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, `"UNAVAILABLE"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("answered %d (Retry-After %q): %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Fatalf("answered after %v, before the grace period", took)
	}
}
