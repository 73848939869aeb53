package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// The legacy subscriptions-transport-ws protocol ("graphql-ws") works too.
func TestLegacyGraphQLWSProtocol(t *testing.T) {
	e := apitest.New(t, "sqlite")
	a := e.Register("alice")
	e.AddLicense(a.Token, "203.0.113.10", "KERNELCARE", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "graphql-ws" {
		t.Fatalf("negotiated %q", conn.Subprotocol())
	}
	write := func(v any) {
		if err := wsjson.Write(ctx, conn, v); err != nil {
			t.Fatal(err)
		}
	}
	read := func(want string) map[string]any {
		for {
			var m map[string]any
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if m["type"] == want {
				return m
			}
		}
	}
	write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + a.Token}})
	read("connection_ack")
	write(map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": `subscription { checkIns { ip hostname } }`}})
	deadline := time.Now().Add(5 * time.Second)
	for e.Subscribers() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e.CheckInFrom("203.0.113.10", "legacy")
	msg := read("data")
	b, _ := json.Marshal(msg["payload"])
	if !strings.Contains(string(b), `"hostname":"legacy"`) {
		t.Fatalf("graphql-ws data: %s", b)
	}
}

// Browsers from origins outside --cors-origins cannot open a websocket either.
func TestWebsocketOriginCheck(t *testing.T) {
	e := apitest.New(t, "sqlite", apitest.WithConfig(func(c *server.Config) {
		c.CORSOrigins = []string{"https://dash.example"}
	}))
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	dial := func(origin string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			Subprotocols: []string{"graphql-transport-ws"},
			HTTPHeader:   http.Header{"Origin": []string{origin}},
		})
		if conn != nil {
			conn.CloseNow()
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	if code, err := dial("https://dash.example"); err != nil || code != http.StatusSwitchingProtocols {
		t.Fatalf("allowed origin: %d %v", code, err)
	}
	if code, err := dial("https://evil.example"); err == nil || code != http.StatusForbidden {
		t.Fatalf("other origin: %d %v", code, err)
	}
}
