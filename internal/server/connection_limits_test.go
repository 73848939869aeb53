package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// shortLimits makes the connection limits short enough to test.
func shortLimits(c *server.Config) {
	c.BodyTimeout = 300 * time.Millisecond
	c.IdleTimeout = 300 * time.Millisecond
	c.WebsocketInitTimeout = 300 * time.Millisecond
	c.MaxSubscriptionsPerSocket = 3
}

// A request whose body stops arriving is answered 408 BAD_USER_INPUT and its
// connection closed once BodyTimeout has passed, on both endpoints that read
// bodies, instead of holding the connection and its goroutine for ever.
func TestBodyThatStopsArrivingIsCutOff(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) { bodyThatStopsArriving(t, e) }, apitest.WithConfig(shortLimits))
}

func bodyThatStopsArriving(t *testing.T, e *apitest.Env) {
	for _, path := range []string{"/v1/checkin", "/graphql"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.Server.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"hostname\":", path)
		began := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: no answer to a body that stopped arriving: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"BAD_USER_INPUT"`) {
			t.Errorf("%s: a body that stopped arriving: HTTP %d %s", path, resp.StatusCode, body)
		}
		if waited := time.Since(began); waited > 3*time.Second {
			t.Errorf("%s: answered after %s", path, waited)
		}
	}
	// A body that arrives in pieces within the limit is read as usual.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.Server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	body := `{"query":"{ clock { now } }"}`
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	time.Sleep(100 * time.Millisecond)
	fmt.Fprint(conn, body[5:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"now"`) {
		t.Errorf("a body in two pieces: HTTP %d %s", resp.StatusCode, answer)
	}
}

// A keep-alive connection that sends no next request is closed after
// IdleTimeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	apitest.Each(t, idleConnection, apitest.WithConfig(shortLimits))
}

func idleConnection(t *testing.T, e *apitest.Env) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.Instance.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	began := time.Now()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("an idle keep-alive connection: read %v, want EOF (closed by the server)", err)
	}
	if waited := time.Since(began); waited > 3*time.Second {
		t.Errorf("closed after %s", waited)
	}
}

// A websocket that never sends connection_init is closed with 4408
// (graphql-transport-ws: "Connection initialisation timeout").
func TestWebsocketWithoutInitIsClosed(t *testing.T) {
	apitest.Each(t, websocketWithoutInit, apitest.WithConfig(shortLimits))
}

func websocketWithoutInit(t *testing.T, e *apitest.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn := dialTransportWS(t, ctx, e)
	_, b, err := conn.Read(ctx)
	if code := websocket.CloseStatus(err); code != 4408 {
		t.Fatalf("a socket without connection_init: read %s %v (%d), want close 4408", b, err, code)
	}
}

// One websocket runs at most MaxSubscriptionsPerSocket operations at once:
// a subscribe beyond them is answered with an error coded LIMIT_REACHED and
// never started; the others go on, and once one completes another may start.
func TestSubscriptionsPerSocketAreBounded(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("many-subs")
		conn, ctx := transportWS(t, e, seller.Token)
		sub := func(id string) string {
			return `{"id":"` + id + `","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`
		}
		for _, id := range []string{"1", "2", "3"} {
			send(t, ctx, conn, sub(id))
		}
		waitSubscribers(t, e, 3, 5*time.Second)
		send(t, ctx, conn, sub("4"))
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, b, err := conn.Read(rctx)
		if err != nil || !strings.Contains(string(b), `"id":"4","type":"error"`) || !strings.Contains(string(b), `"LIMIT_REACHED"`) {
			t.Fatalf("a fourth subscribe on a socket limited to 3: %s %v", b, err)
		}
		send(t, ctx, conn, `{"id":"2","type":"complete"}`)
		waitSubscribers(t, e, 2, 5*time.Second)
		send(t, ctx, conn, sub("5"))
		waitSubscribers(t, e, 3, 5*time.Second)
	}, apitest.WithConfig(shortLimits))
}

// The body's deadline is lifted once the body has been read: a subscription
// over server-sent events (a POST) outlives BodyTimeout and still receives
// its events.
func TestStreamOutlivesTheBodyTimeout(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("long-stream")
		e.AddLicense(seller.Token, "203.0.113.77", "KERNELCARE", "")
		sub := e.SubscribeSSE(seller.Token, `subscription { checkIns { ip } }`, nil)
		waitSubscribers(t, e, 1, 5*time.Second)
		time.Sleep(3 * 300 * time.Millisecond) // three BodyTimeouts
		e.CheckInFrom("203.0.113.77", "")
		if ev, ok := sub.Next(5 * time.Second); !ok || !strings.Contains(string(ev), "203.0.113.77") {
			t.Fatalf("after three body timeouts the stream received %s %v", ev, ok)
		}
	}, apitest.WithConfig(shortLimits))
}
