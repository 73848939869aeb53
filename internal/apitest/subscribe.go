package apitest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// Sub is a GraphQL subscription over a real websocket (graphql-transport-ws)
// or server-sent events.
type Sub struct {
	t      testing.TB
	events chan json.RawMessage
	errs   chan string
	cancel context.CancelFunc
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Subscribe opens a websocket, authenticates with the token in
// connection_init, starts the subscription and waits until the instance has
// registered it, so that no event published afterwards can be missed.
func (e *Env) Subscribe(token, query string, vars map[string]any) *Sub {
	e.t.Helper()
	before := e.Subscribers()
	ctx, cancel := context.WithCancel(context.Background())
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	init := map[string]any{}
	if token != "" {
		init["Authorization"] = "Bearer " + token
	}
	payload, _ := json.Marshal(init)
	must := func(err error) {
		if err != nil {
			cancel()
			e.t.Fatal(err)
		}
	}
	must(wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: payload}))
	var ack wsMessage
	must(wsjson.Read(ctx, conn, &ack))
	if ack.Type != "connection_ack" {
		cancel()
		e.t.Fatalf("connection_init answered %+v", ack)
	}
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	must(wsjson.Write(ctx, conn, wsMessage{ID: "1", Type: "subscribe", Payload: body}))
	s := &Sub{t: e.t, events: make(chan json.RawMessage, 10000), errs: make(chan string, 10), cancel: cancel}
	go func() {
		defer conn.CloseNow()
		defer close(s.events)
		for {
			var m wsMessage
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				return
			}
			switch m.Type {
			case "next":
				s.events <- m.Payload
			case "error":
				s.errs <- string(m.Payload)
				return
			case "complete":
				return
			case "ping":
				_ = wsjson.Write(ctx, conn, wsMessage{Type: "pong"})
			}
		}
	}()
	e.t.Cleanup(cancel)
	e.waitSubscribers(before+1, s)
	return s
}

// SubscribeSSE starts a subscription over server-sent events.
func (e *Env) SubscribeSSE(token, query string, vars map[string]any) *Sub {
	e.t.Helper()
	before := e.Subscribers()
	ctx, cancel := context.WithCancel(context.Background())
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.Server.URL+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		e.t.Fatalf("SSE answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &Sub{t: e.t, events: make(chan json.RawMessage, 10000), errs: make(chan string, 10), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "next":
				s.events <- json.RawMessage(strings.TrimPrefix(line, "data: "))
			case event == "complete":
				return
			}
		}
	}()
	e.t.Cleanup(cancel)
	e.waitSubscribers(before+1, s)
	return s
}

// Subscribers is how many check-in subscriptions this instance holds.
func (e *Env) Subscribers() int { return e.Instance.Subscribers() }

func (e *Env) waitSubscribers(n int, s *Sub) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.Subscribers() < n {
		select {
		case msg := <-s.errs:
			e.t.Fatalf("subscription refused: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the subscription was not registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Next waits for the next event's payload ({"data": ...}).
func (s *Sub) Next(timeout time.Duration) (json.RawMessage, bool) {
	select {
	case m, ok := <-s.events:
		return m, ok
	case <-time.After(timeout):
		return nil, false
	}
}

// WS is an open graphql-transport-ws connection for queries and mutations.
type WS struct {
	t      testing.TB
	ctx    context.Context
	conn   *websocket.Conn
	nextID int
}

// DialWS opens a websocket and authenticates it with the token.
func (e *Env) DialWS(token string) *WS {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.CloseNow() })
	init := map[string]any{}
	if token != "" {
		init["Authorization"] = "Bearer " + token
	}
	payload, _ := json.Marshal(init)
	if err := wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: payload}); err != nil {
		e.t.Fatal(err)
	}
	var ack wsMessage
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		e.t.Fatalf("connection_init answered %+v %v", ack, err)
	}
	return &WS{t: e.t, ctx: ctx, conn: conn}
}

// Do runs one operation on the socket and returns its result payload
// ({"data":…,"errors":…}) or, for a protocol-level error, that error's payload.
// It fails the test if the server sends anything after the result but
// "complete".
func (w *WS) Do(query string, vars map[string]any) json.RawMessage {
	w.t.Helper()
	w.nextID++
	id := fmt.Sprint(w.nextID)
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, w.conn, wsMessage{ID: id, Type: "subscribe", Payload: body}); err != nil {
		w.t.Fatal(err)
	}
	var result json.RawMessage
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, w.conn, &m); err != nil {
			w.t.Fatalf("reading the result: %v", err)
		}
		if m.ID != id {
			continue
		}
		switch m.Type {
		case "next":
			if result != nil {
				w.t.Fatalf("a second result after %s: %s", result, m.Payload)
			}
			result = m.Payload
		case "error":
			if result != nil {
				w.t.Fatalf("an error after the result %s: %s", result, m.Payload)
			}
			return m.Payload
		case "complete":
			return result
		}
	}
}

// DialWSHeader opens a websocket authenticated by its upgrade request's
// Authorization header, with an empty connection_init.
func (e *Env) DialWSHeader(token string) *WS {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	header := http.Header{"Authorization": []string{"Bearer " + token}}
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.CloseNow() })
	if err := wsjson.Write(ctx, conn, wsMessage{Type: "connection_init"}); err != nil {
		e.t.Fatal(err)
	}
	var ack wsMessage
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		e.t.Fatalf("connection_init answered %+v %v", ack, err)
	}
	return &WS{t: e.t, ctx: ctx, conn: conn}
}
