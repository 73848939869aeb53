package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"clnd/internal/apitest"
)

// A graceful stop (what SIGTERM and SIGINT start in clnd serve) closes
// every websocket with 1001 Going Away, on graphql-transport-ws and legacy
// graphql-ws, acknowledged or not yet, and ends every server-sent events
// stream with its complete event; clients saw EOF, and an event stream held
// the stop for its whole 15 s grace.
func TestGracefulStopClosesStreams(t *testing.T) {
	apitest.Each(t, gracefulStop)
}

func gracefulStop(t *testing.T, e *apitest.Env) {
	seller := e.Register("going-away")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- e.Instance.Serve(ctx, ln) }()
	base := "ws://" + ln.Addr().String() + "/graphql"
	rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	dial := func(protocol string, messages ...string) *websocket.Conn {
		t.Helper()
		conn, _, err := websocket.Dial(rctx, base, &websocket.DialOptions{Subprotocols: []string{protocol}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.CloseNow() })
		for _, m := range messages {
			send(t, rctx, conn, m)
		}
		return conn
	}
	init := `{"type":"connection_init","payload":{"Authorization":"Bearer ` + seller.Token + `"}}`
	sockets := map[string]*websocket.Conn{
		"graphql-transport-ws":   dial("graphql-transport-ws", init, `{"id":"1","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`),
		"graphql-ws":             dial("graphql-ws", init, `{"id":"1","type":"start","payload":{"query":"subscription { checkIns { hostname } }"}}`),
		"before connection_init": dial("graphql-transport-ws"),
	}
	req, _ := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+ln.Addr().String()+"/graphql",
		strings.NewReader(`{"query":"subscription { checkIns { hostname } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+seller.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type stream struct {
		body string
		err  error
	}
	sse := make(chan stream, 1)
	go func() {
		b, err := io.ReadAll(resp.Body)
		sse <- stream{string(b), err}
	}()
	waitSubscribers(t, e, 3, 5*time.Second)

	began := time.Now()
	stop()
	for name, conn := range sockets {
		for {
			_, b, err := conn.Read(rctx)
			if err == nil {
				continue // an acknowledgement or keep-alive sent before the stop
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason == "" {
				t.Errorf("%s: the stop ended the socket with %v (%s), want close 1001 with a reason", name, err, b)
			}
			break
		}
	}
	select {
	case s := <-sse:
		if s.err != nil || !strings.HasSuffix(s.body, "event: complete\n\n") {
			t.Errorf("the stop ended the event stream with %q, %v; want its complete event and a clean end", s.body, s.err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the event stream was still open 10 s after the stop began")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve had not returned 10 s after the stop began")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the stop took %s", took)
	}
}
