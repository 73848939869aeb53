package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"clnd/internal/apitest"
)

// transportWS opens a graphql-transport-ws socket and acknowledges it with
// the token, for messages the apitest helpers would never send.
func transportWS(t *testing.T, e *apitest.Env, token string) (*websocket.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	conn := dialTransportWS(t, ctx, e)
	send(t, ctx, conn, `{"type":"connection_init","payload":{"Authorization":"Bearer `+token+`"}}`)
	if _, b, err := conn.Read(ctx); err != nil || !strings.Contains(string(b), `"connection_ack"`) {
		t.Fatalf("connection_init answered %s %v", b, err)
	}
	return conn, ctx
}

// dialTransportWS opens a graphql-transport-ws socket to /graphql and sends
// nothing on it; it is closed when the test ends.
func dialTransportWS(t *testing.T, ctx context.Context, e *apitest.Env) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.Server.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

func send(t *testing.T, ctx context.Context, conn *websocket.Conn, msg string) {
	t.Helper()
	if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// A second subscribe with the id of a subscription still running closes the
// socket with 4409 (graphql-transport-ws: "Subscriber for <id> already
// exists"), which ends both. gqlgen on its own started the second beside
// the first and lost the first one's cancel: after the client's complete
// for that id, the first went on sending events for it ("next" after
// "complete") and nothing the client could send would stop it.
func TestHostileWebsocketDuplicateSubscriptionID(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("dup-id")
		conn, ctx := transportWS(t, e, seller.Token)
		const sub = `{"id":"1","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`
		send(t, ctx, conn, sub)
		waitSubscribers(t, e, 1, 5*time.Second)
		send(t, ctx, conn, sub)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		for {
			_, b, err := conn.Read(rctx)
			if err != nil {
				if code := websocket.CloseStatus(err); code != 4409 {
					t.Fatalf("a second subscribe with a running id ended the read with %v (%d), want close %d", err, code, 4409)
				}
				break
			}
			t.Fatalf("a second subscribe with a running id answered %s", b)
		}
		waitSubscribers(t, e, 0, 5*time.Second)
	})
}

// A subscription the client completes while it is still starting (a
// component mounted and unmounted at once) sends nothing after that
// complete but its own complete: no INTERNAL "context canceled" result.
func TestHostileWebsocketCompleteWhileStarting(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("quick-complete")
		conn, ctx := transportWS(t, e, seller.Token)
		const n = 50
		for i := 0; i < n; i++ {
			id := fmt.Sprint(i)
			send(t, ctx, conn, `{"id":"`+id+`","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`)
			send(t, ctx, conn, `{"id":"`+id+`","type":"complete"}`)
		}
		completes := 0
		for completes < n {
			_, b, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("after %d completes: %v", completes, err)
			}
			var m struct{ ID, Type string }
			_ = json.Unmarshal(b, &m)
			if m.Type != "complete" {
				t.Fatalf("after the client's complete: %s", b)
			}
			completes++
		}
		waitSubscribers(t, e, 0, 5*time.Second)
		// The socket still works.
		send(t, ctx, conn, `{"id":"x","type":"subscribe","payload":{"query":"{ viewer { role } }"}}`)
		if _, b, err := conn.Read(ctx); err != nil || !strings.Contains(string(b), `"RESELLER"`) {
			t.Fatalf("a query afterwards answered %s %v", b, err)
		}
	})
}

// Ids may be reused once their operation is over: a query's, or a
// subscription the client completed.
func TestHostileWebsocketReusedIDAfterCompletion(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("reuse-id")
		conn, ctx := transportWS(t, e, seller.Token)
		read := func(want string) {
			t.Helper()
			for {
				_, b, err := conn.Read(ctx)
				if err != nil {
					t.Fatalf("waiting for %s: %v", want, err)
				}
				if strings.Contains(string(b), `"type":"`+want+`"`) {
					return
				}
			}
		}
		for i := 0; i < 3; i++ {
			send(t, ctx, conn, `{"id":"7","type":"subscribe","payload":{"query":"{ viewer { role } }"}}`)
			read("complete")
		}
		for i := 0; i < 3; i++ {
			send(t, ctx, conn, `{"id":"7","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`)
			waitSubscribers(t, e, 1, 5*time.Second)
			send(t, ctx, conn, `{"id":"7","type":"complete"}`)
			read("complete")
			waitSubscribers(t, e, 0, 5*time.Second)
		}
		// The socket still works.
		send(t, ctx, conn, `{"id":"7","type":"subscribe","payload":{"query":"{ viewer { role } }"}}`)
		read("next")
	})
}

// A message that cannot be decoded after connection_init closes the socket
// with 1002 (docs/checkins.md), as before it, not with 1000, which tells a
// client that all is well and nothing need be retried.
func TestHostileWebsocketInvalidMessageAfterInit(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("bad-json")
	for _, msg := range []string{`not json`, `{"id":1,"type":"subscribe","payload":{}}`, `{"type":"subscribe"`} {
		conn, ctx := transportWS(t, e, seller.Token)
		send(t, ctx, conn, msg)
		_, b, err := conn.Read(ctx)
		if code := websocket.CloseStatus(err); code != websocket.StatusProtocolError {
			t.Errorf("%s after connection_init: %s, close %d (%v), want 1002", msg, b, code, err)
		}
	}
}
