package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// leanIP is the licensed host the lean connection tests check in as.
const leanIP = "203.0.113.77"

// checkInRequest is an agent's check-in, with extra header lines.
func checkInRequest(body string, headers ...string) string {
	h := "POST /v1/checkin HTTP/1.1\r\nHost: clnd.test\r\nContent-Type: application/json\r\nX-Forwarded-For: " + leanIP + "\r\n"
	for _, line := range headers {
		h += line + "\r\n"
	}
	return h + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// pause in a raw exchange: the client waits before writing what follows.
const pause = "\x00PAUSE\x00"

// exchange writes raw to e's server (in pieces, at each pause), reads n
// answers, and returns them as a comparable transcript: status, headers
// but Date and Content-Length (and a generated X-Request-Id), body with its
// times blanked, and whether the server then closed the connection.
func exchange(t *testing.T, e *apitest.Env, raw string, n int) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.Server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		for i, piece := range strings.Split(raw, pause) {
			if i > 0 {
				time.Sleep(100 * time.Millisecond)
			}
			if _, err := io.WriteString(conn, piece); err != nil {
				return
			}
		}
	}()
	r := bufio.NewReader(conn)
	var out strings.Builder
	for range n {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			fmt.Fprintf(&out, "no answer: %v\n", errors.Unwrap(err) != nil)
			return out.String()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&out, "%s\n", resp.Status)
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range resp.Header {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			switch {
			case k == "Date", k == "Content-Length":
				continue
			case k == "X-Request-Id" && strings.HasPrefix(resp.Header.Get(k), "req_"):
				fmt.Fprintf(&out, "%s: (generated)\n", k)
				continue
			}
			fmt.Fprintf(&out, "%s: %s\n", k, strings.Join(resp.Header[k], ", "))
		}
		fmt.Fprintf(&out, "%s\n", times.ReplaceAllString(string(body), "(time)"))
	}
	_ = conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, err := r.ReadByte(); err == io.EOF {
		out.WriteString("(closed)\n")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		out.WriteString("(open)\n")
	} else {
		fmt.Fprintf(&out, "(after the answers: %v)\n", err)
	}
	return out.String()
}

var times = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)

// answersAlike sends raw to lean (a server with lean connections) and to
// plain (one without), and wants the same answers, onLean of them answered
// on a lean connection (not counted when negative).
func answersAlike(t *testing.T, lean, plain *apitest.Env, name, raw string, answers, onLean int) {
	t.Helper()
	before := leanCount(t, lean, "answered")
	got := exchange(t, lean, raw, answers)
	want := exchange(t, plain, raw, answers)
	if got != want {
		t.Errorf("%s: lean connections answered\n%s\nnet/http answered\n%s", name, got, want)
	}
	if n := leanCount(t, lean, "answered") - before; onLean >= 0 && n != onLean {
		t.Errorf("%s: %d check-ins answered on a lean connection, want %d", name, n, onLean)
	}
}

// leanCount reads clnd_lean_connections_total{outcome} from /metrics.
func leanCount(t *testing.T, e *apitest.Env, outcome string) int {
	t.Helper()
	resp, err := http.Get(e.Server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^clnd_lean_connections_total\{outcome="` + outcome + `"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestLeanConnectionsAnswerAsNetHTTP sends the same bytes to a server with
// lean connections and to one without (--net-http-only), and wants the same
// answers: every plain check-in answered on the lean connection (counted),
// every other request handed to net/http at its first byte, the connection
// kept or closed alike.
func TestLeanConnectionsAnswerAsNetHTTP(t *testing.T) {
	for _, driver := range apitest.Backends {
		t.Run(driver, func(t *testing.T) { leanConnectionsAnswerAsNetHTTP(t, driver) })
	}
}

func leanConnectionsAnswerAsNetHTTP(t *testing.T, driver string) {
	lean := apitest.New(t, driver, apitest.WithConfig(shortBodyTimeout))
	plain := apitest.New(t, driver, apitest.WithConfig(func(c *server.Config) {
		shortBodyTimeout(c)
		c.NetHTTPOnly = true
	}))
	var credential string
	for _, e := range []*apitest.Env{lean, plain} {
		seller := e.Register("lean-parity")
		e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
		credential = "clnd_srv_" + strings.Repeat("x", 40) // unknown on both
	}
	const agent = `{"hostname":"web1.example.com"}`
	long := `{"hostname":"` + strings.Repeat("a", 3000) + `.example"}`
	healthz := "GET /healthz HTTP/1.1\r\nHost: clnd.test\r\n\r\n"
	cases := []struct {
		name    string
		raw     string
		answers int
		onLean  int // check-ins the lean server answers on its lean connection
	}{
		{"a JSON check-in", checkInRequest(agent), 1, 1},
		{"a form check-in", strings.Replace(checkInRequest("hostname=web1.example.com"), "application/json", "application/x-www-form-urlencoded", 1), 1, 1},
		{"an unknown host", strings.Replace(checkInRequest(agent), leanIP, "198.51.100.9", 1), 1, 1},
		{"an untrusted hop", strings.Replace(checkInRequest(agent), leanIP, "198.51.100.9, "+leanIP, 1), 1, 1},
		{"its own request ID", checkInRequest(agent, "X-Request-ID: agent-7"), 1, 1},
		{"a request ID too long", checkInRequest(agent, "X-Request-ID: "+strings.Repeat("r", 65)), 1, 1},
		{"Connection: close", checkInRequest(agent, "Connection: close"), 1, 1},
		{"headers in lower case, other headers", "POST /v1/checkin HTTP/1.1\r\nhost: clnd.test\r\ncontent-type: application/json\r\nx-forwarded-for: " + leanIP +
			"\r\nuser-agent: clnd-agent/1\r\naccept: */*\r\nx-request-id: lower\r\ncontent-length: " + strconv.Itoa(len(agent)) + "\r\n\r\n" + agent, 1, 1},
		{"two pipelined", checkInRequest(agent) + checkInRequest(agent), 2, 2},
		{"a check-in, then another path", checkInRequest(agent) + healthz, 2, 1},
		{"another path, then a check-in", healthz + checkInRequest(agent), 2, 0},
		{"the head in pieces", strings.Replace(checkInRequest(agent), "Content-Type", pause+"Content-Type", 1), 1, 1},
		{"the body later", strings.Replace(checkInRequest(agent), "{", pause+"{", 1), 1, 1},
		{"a body that stops arriving", strings.TrimSuffix(checkInRequest(agent), "}"), 1, 1},
		{"an unknown credential", checkInRequest(`{"hostname":"n1","credential":"` + credential + `"}`), 1, 1},
		{"a bad hostname", checkInRequest(`{"hostname":"bad host!"}`), 1, 1},
		{"a chunked body", strings.Replace(strings.Replace(checkInRequest(""), "Content-Length: 0", "Transfer-Encoding: chunked", 1), "\r\n\r\n", "\r\n\r\n"+fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(agent), agent), 1), 1, 0},
		{"chunked, with a Content-Length", checkInRequest(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(agent), agent), "Transfer-Encoding: chunked") + checkInRequest(agent), 2, 0},
		{"Expect: 100-continue", checkInRequest(agent, "Expect: 100-continue"), 2, 0},
		{"an Authorization header", checkInRequest(agent, "Authorization: Bearer nope"), 1, 0},
		{"an Origin", checkInRequest(agent, "Origin: https://evil.example"), 1, 0},
		{"an Idempotency-Key", checkInRequest(agent, "Idempotency-Key: k1"), 1, 0},
		{"Connection: upgrade", checkInRequest(agent, "Connection: upgrade"), 1, 0},
		{"bad JSON", checkInRequest(`{"hostname":`), 1, 0},
		{"an unknown field", checkInRequest(`{"hostName":"x"}`), 1, 0},
		{"an escaped NUL", checkInRequest(`{"hostname":"a\u0000b"}`), 1, 0},
		{"a body that is not UTF-8", checkInRequest("{\"hostname\":\"\xff\"}"), 1, 0},
		{"a query string", strings.Replace(checkInRequest(agent), "/v1/checkin", "/v1/checkin?hostname=x", 1), 1, 0},
		{"text/plain", strings.Replace(checkInRequest(agent), "application/json", "text/plain", 1), 1, 0},
		{"a body over the lean limit", checkInRequest(long), 1, 0},
		{"no body", checkInRequest(""), 1, 0},
		{"two Content-Lengths", checkInRequest(agent, "Content-Length: 5"), 1, 0},
		{"a signed Content-Length", strings.Replace(checkInRequest(agent), "Content-Length: ", "Content-Length: +", 1), 1, 0},
		{"HTTP/1.0", strings.Replace(checkInRequest(agent), "HTTP/1.1", "HTTP/1.0", 1), 1, 0},
		{"no Host", strings.Replace(checkInRequest(agent), "Host: clnd.test\r\n", "", 1), 1, 0},
		{"two Hosts", checkInRequest(agent, "Host: other.test"), 1, 0},
		{"a space before a colon", checkInRequest(agent, "X-Extra : 1"), 1, 0},
		{"a folded header", checkInRequest(agent, "X-Extra: a\r\n b"), 1, 0},
		{"a header value not ASCII", checkInRequest(agent, "User-Agent: agent\xc3\xa9"), 1, 0},
		{"bare line feeds", strings.ReplaceAll(checkInRequest(agent), "\r\n", "\n"), 1, 0},
		{"a long head", checkInRequest(agent, "X-Padding: "+strings.Repeat("p", 5000)), 1, 0},
		{"absolute form", strings.Replace(checkInRequest(agent), "/v1/checkin", "http://clnd.test/v1/checkin", 1), 1, 0},
		{"GET", strings.Replace(checkInRequest(agent), "POST", "GET", 1), 1, 0},
	}
	for _, c := range cases {
		answersAlike(t, lean, plain, c.name, c.raw, c.answers, c.onLean)
	}
	if leanCount(t, lean, "handed_over") == 0 {
		t.Error("no connection was handed to net/http")
	}
	if leanCount(t, plain, "answered") != 0 {
		t.Error("--net-http-only answered check-ins on lean connections")
	}
}

func shortBodyTimeout(c *server.Config) { c.BodyTimeout = 300 * time.Millisecond }

// TestLeanConnectionsEndWithTheServer: Serve's shutdown closes a lean
// connection waiting for its next request at once (it does not hold the
// drain's 15 s), and check-ins are answered up to then.
func TestLeanConnectionsEndWithTheServer(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("lean-shutdown")
	e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
	addr, cancel, served := serveInstance(t, e, nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, checkInRequest(`{"hostname":"web1.example.com"}`)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in: %s", resp.Status)
	}
	began := time.Now()
	cancel()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("the idle lean connection after shutdown: %v, want EOF", err)
	}
	if took := time.Since(began) + stopServing(t, cancel, served); took > 5*time.Second {
		t.Errorf("shutting down with an idle lean connection took %v", took)
	}
}
