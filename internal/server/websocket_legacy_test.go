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

// legacyWS opens a legacy graphql-ws (subscriptions-transport-ws) socket and
// acknowledges it with the token; read returns its next message that is not
// a keep-alive.
func legacyWS(t *testing.T, e *apitest.Env, token string) (conn *websocket.Conn, ctx context.Context, read func(context.Context) (string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.Server.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	read = func(ctx context.Context) (string, error) {
		for {
			_, b, err := conn.Read(ctx)
			if err != nil || !strings.Contains(string(b), `"type":"ka"`) {
				return string(b), err
			}
		}
	}
	send(t, ctx, conn, `{"type":"connection_init","payload":{"Authorization":"Bearer `+token+`"}}`)
	if b, err := read(ctx); err != nil || !strings.Contains(b, `"connection_ack"`) {
		t.Fatalf("connection_init answered %s %v", b, err)
	}
	return conn, ctx, read
}

func legacyStart(id, query string) string {
	return `{"id":"` + id + `","type":"start","payload":{"query":"` + query + `"}}`
}

// A start with the id of an operation still running replaces it, as
// subscriptions-transport-ws's server does (it unsubscribes the previous
// one first): the previous one is stopped and sends nothing more, not even
// its complete (which the client would take for the new one's), and the
// new one runs under the id. gqlgen on its own ran both and lost the
// first one's cancel: it went on sending events for the id after the
// client's stop, and nothing short of closing the socket stopped it.
func TestLegacyWebsocketStartReplacesRunningID(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("legacy-dup")
		const ip = "203.0.113.90"
		e.AddLicense(seller.Token, ip, "KERNELCARE", "")
		conn, ctx, read := legacyWS(t, e, seller.Token)
		send(t, ctx, conn, legacyStart("1", "subscription { checkIns { hostname } }"))
		waitSubscribers(t, e, 1, 5*time.Second)
		send(t, ctx, conn, legacyStart("1", "subscription { checkIns { ip } }"))
		// The replacement has started once a query sent after it is answered.
		send(t, ctx, conn, legacyStart("q", "{ viewer { role } }"))
		for {
			msg, err := read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(msg, `"id":"q"`) && strings.Contains(msg, `"complete"`) {
				break
			}
			if strings.Contains(msg, `"id":"1"`) {
				t.Fatalf("the replaced operation sent %s", msg)
			}
		}
		waitSubscribers(t, e, 1, 5*time.Second)
		e.CheckInFrom(ip, "dup-host")
		msg, err := read(ctx)
		if err != nil || !strings.Contains(msg, `"id":"1","type":"data"`) || !strings.Contains(msg, ip) || strings.Contains(msg, "dup-host") {
			t.Fatalf("a check-in after the replacement: %s %v, want the new operation's data", msg, err)
		}
		send(t, ctx, conn, `{"id":"1","type":"stop"}`)
		waitSubscribers(t, e, 0, 5*time.Second)
		e.CheckInFrom(ip, "after-stop")
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		for {
			msg, err := read(rctx)
			if err != nil {
				break // nothing more within a second
			}
			if !strings.Contains(msg, `"type":"complete"`) {
				t.Fatalf("after the client's stop: %s", msg)
			}
		}
	})
}

// One legacy socket runs at most MaxSubscriptionsPerSocket operations, as a
// graphql-transport-ws one does: a start beyond them is answered with an
// error message coded LIMIT_REACHED and never started.
func TestLegacyWebsocketOperationsAreBounded(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("legacy-many")
		conn, ctx, read := legacyWS(t, e, seller.Token)
		for _, id := range []string{"1", "2", "3"} {
			send(t, ctx, conn, legacyStart(id, "subscription { checkIns { hostname } }"))
		}
		waitSubscribers(t, e, 3, 5*time.Second)
		send(t, ctx, conn, legacyStart("4", "subscription { checkIns { hostname } }"))
		msg, err := read(ctx)
		if err != nil || !strings.Contains(msg, `"id":"4","type":"error"`) || !strings.Contains(msg, `"LIMIT_REACHED"`) {
			t.Fatalf("a fourth start on a socket limited to 3: %s %v", msg, err)
		}
		time.Sleep(100 * time.Millisecond)
		if n := e.Subscribers(); n != 3 {
			t.Fatalf("%d subscriptions after a start over the limit, want 3", n)
		}
		send(t, ctx, conn, `{"id":"2","type":"stop"}`)
		waitSubscribers(t, e, 2, 5*time.Second)
		send(t, ctx, conn, legacyStart("5", "subscription { checkIns { hostname } }"))
		waitSubscribers(t, e, 3, 5*time.Second)
	}, apitest.WithConfig(shortLimits))
}

// Once the client stops an operation, nothing but its complete is sent for
// it: no INTERNAL "context canceled" error for a subscription stopped while
// it started.
func TestLegacyWebsocketStopWhileStarting(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("legacy-stop")
		conn, ctx, read := legacyWS(t, e, seller.Token)
		const n = 50
		for i := 0; i < n; i++ {
			id := fmt.Sprint(i)
			send(t, ctx, conn, legacyStart(id, "subscription { checkIns { hostname } }"))
			send(t, ctx, conn, `{"id":"`+id+`","type":"stop"}`)
		}
		send(t, ctx, conn, legacyStart("q", "{ viewer { role } }"))
		for {
			msg, err := read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var m struct{ ID, Type string }
			_ = json.Unmarshal([]byte(msg), &m)
			if m.ID == "q" {
				if m.Type == "complete" {
					break
				}
				continue
			}
			if m.Type != "complete" {
				t.Fatalf("after the client's stop: %s", msg)
			}
		}
		waitSubscribers(t, e, 0, 5*time.Second)
	})
}
