package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"clnd/internal/apitest"
)

// wsDial opens a websocket with one subprotocol and gives the test a writer
// and a reader of raw JSON messages.
func wsDial(t *testing.T, e *apitest.Env, protocol string) (write func(v any), read func() (string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if conn.Subprotocol() != protocol {
		t.Fatalf("negotiated %q", conn.Subprotocol())
	}
	write = func(v any) {
		t.Helper()
		if err := wsjson.Write(ctx, conn, v); err != nil {
			t.Fatal(err)
		}
	}
	read = func() (string, error) {
		_, b, err := conn.Read(ctx)
		return string(b), err
	}
	return write, read
}

// closeOf reads until the server closes the socket and returns the close
// code and reason, failing on any message but the allowed ones.
func closeOf(t *testing.T, read func() (string, error), allowed ...string) (websocket.StatusCode, string) {
	t.Helper()
	for {
		msg, err := read()
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("the socket ended without a close frame: %v", err)
			}
			return ce.Code, ce.Reason
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.Contains(msg, `"type":"`+a+`"`)
		}
		if !ok {
			t.Fatalf("before the close: %s", msg)
		}
	}
}

// connection_ack never carries the client's connection_init payload back:
// that payload holds the bearer token.
func TestWebsocketAckDoesNotEchoTheToken(t *testing.T) {
	e := apitest.New(t, "sqlite")
	a := e.Register("alice")
	for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(protocol, func(t *testing.T) {
			write, read := wsDial(t, e, protocol)
			write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + a.Token}})
			ack, err := read()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ack, `"type":"connection_ack"`) {
				t.Fatalf("connection_init answered %s", ack)
			}
			if strings.Contains(ack, a.Token) || strings.Contains(ack, "Authorization") || strings.Contains(ack, "payload") {
				t.Fatalf("connection_ack carries a payload: %s", ack)
			}
		})
	}
}

// A token that does not authenticate closes a graphql-transport-ws socket
// with 4403 Forbidden, on both databases; no operation runs on it.
func TestWebsocketBadTokenCloses4403(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		for _, token := range []string{"nope", "clnd_ses_" + strings.Repeat("x", 40), "clnd_api_" + strings.Repeat("x", 40)} {
			write, read := wsDial(t, e, "graphql-transport-ws")
			write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
			code, reason := closeOf(t, read) // no ack, nothing else
			if code != 4403 || !strings.HasPrefix(reason, "Forbidden") {
				t.Fatalf("token %q: closed with %d %q, want 4403 Forbidden", token, code, reason)
			}
		}
	})
}

// The legacy graphql-ws protocol keeps its own convention: connection_error
// with a message, then the close (with the same 4403 code).
func TestLegacyWebsocketBadToken(t *testing.T) {
	e := apitest.New(t, "sqlite")
	write, read := wsDial(t, e, "graphql-ws")
	write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer nope"}})
	msg, err := read()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, `"type":"connection_error"`) || !strings.Contains(msg, "invalid or expired") {
		t.Fatalf("connection_init answered %s", msg)
	}
	code, reason := closeOf(t, read)
	if code != 4403 || !strings.HasPrefix(reason, "Forbidden") {
		t.Fatalf("closed with %d %q, want 4403 Forbidden", code, reason)
	}

	// A start before connection_init: connection_error, then 1002.
	write, read = wsDial(t, e, "graphql-ws")
	write(map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": `{ clock { now } }`}})
	if code, _ := closeOf(t, read, "connection_error"); code != websocket.StatusProtocolError {
		t.Fatalf("a start before connection_init: closed with %d", code)
	}
}

// With no token at all the socket is acknowledged as an anonymous caller,
// whom the check-in subscription refuses.
func TestWebsocketAnonymousSubscribe(t *testing.T) {
	e := apitest.New(t, "sqlite")
	ws := e.DialWS("")
	got := string(ws.Do(`subscription { checkIns { ip } }`, nil))
	if !strings.Contains(got, "UNAUTHENTICATED") {
		t.Fatalf("anonymous subscription: %s", got)
	}
}

// A subscribe before connection_init closes with 4401 Unauthorized
// (graphql-transport-ws); another unexpected first message keeps gqlgen's
// 1002.
func TestWebsocketSubscribeBeforeInit(t *testing.T) {
	e := apitest.New(t, "sqlite")
	write, read := wsDial(t, e, "graphql-transport-ws")
	write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `{ clock { now } }`}})
	if code, reason := closeOf(t, read); code != 4401 || reason != "Unauthorized" {
		t.Fatalf("closed with %d %q, want 4401 Unauthorized", code, reason)
	}

	write, read = wsDial(t, e, "graphql-transport-ws")
	write(map[string]any{"type": "pong"})
	if code, _ := closeOf(t, read); code != websocket.StatusProtocolError {
		t.Fatalf("a pong first: closed with %d", code)
	}
}

// A token that cannot be checked because the database is unreachable is not
// called forbidden: the socket closes with 1013 Try Again Later.
func TestWebsocketInitDatabaseDown(t *testing.T) {
	e := apitest.New(t, "sqlite")
	write, read := wsDial(t, e, "graphql-transport-ws")
	e.DB.SQL.Close()
	write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer clnd_ses_unknown"}})
	if code, reason := closeOf(t, read); code != websocket.StatusTryAgainLater || reason != "Try again later" {
		t.Fatalf("closed with %d %q, want 1013 Try again later", code, reason)
	}
}
