package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsSubscriber is a graphql-transport-ws socket subscribed to check-ins:
// its messages, and the error that ended its reads.
type wsSubscriber struct {
	conn     *websocket.Conn
	messages chan string
	ended    chan error
}

// subscribeWS opens a socket on addr, subscribes to check-ins with the token
// and returns once the subscription is in place (a check-in's event has
// arrived). The socket is read by one goroutine with no deadline: a read
// whose context ends closes a coder/websocket connection.
func subscribeWS(t *testing.T, addr, token, ip string) *wsSubscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	for _, m := range []string{
		`{"type":"connection_init","payload":{"Authorization":"Bearer ` + token + `"}}`,
		`{"id":"1","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`,
	} {
		if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	s := &wsSubscriber{conn: conn, messages: make(chan string, 1024), ended: make(chan error, 1)}
	go func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				s.ended <- err
				return
			}
			select {
			case s.messages <- string(b):
			default: // the test reads only what it waits for
			}
		}
	}()
	// Check in until the subscription reports it (it may start after the first).
	for {
		leanCheckIn(t, addr, ip, "probe")
		wait := time.After(300 * time.Millisecond)
		for waiting := true; waiting; {
			select {
			case m := <-s.messages:
				if strings.Contains(m, `"probe"`) {
					return s
				}
			case err := <-s.ended:
				t.Fatalf("the subscription ended: %v", err)
			case <-wait:
				waiting = false
			case <-ctx.Done():
				t.Fatal("no event on the new subscription within 10 s")
			}
		}
	}
}

func leanCheckIn(t *testing.T, addr, ip, hostname string) time.Time {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/checkin", strings.NewReader(`{"hostname":"`+hostname+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ At time.Time }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in answered %d (%v)", resp.StatusCode, err)
	}
	return out.At
}

// TestHostileKillWithWebsocketSubscribers: clnd is killed with -9 while two
// websocket subscribers are connected (the second holding a hundred more
// subscriptions). Their reads end at once (EOF: a killed process sends no
// close frame) rather than hang; every check-in answered before the kill is in the database;
// a clnd started again on the same database takes new subscribers, who
// receive the next check-ins.
func TestHostileKillWithWebsocketSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills processes")
	}
	bin, url, db := killTestDatabase(t)

	first := startServe(t, bin, url, "")
	token := registerWith(t, first.addr, "wskill", "250.00", "")
	const ip = "203.0.113.60"
	mustGQL(t, first.addr, token, `mutation { addIPLicense(input: {ip: "`+ip+`", type: KERNELCARE}) { license { id } } }`, nil)
	subs := []*wsSubscriber{subscribeWS(t, first.addr, token, ip), subscribeWS(t, first.addr, token, ip)}
	// The second also holds a hundred more subscriptions.
	for i := 0; i < 100; i++ {
		m := `{"id":"more` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `","type":"subscribe","payload":{"query":"subscription { checkIns { at } }"}}`
		if err := subs[1].conn.Write(context.Background(), websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	var acked time.Time
	for i := 0; i < 20; i++ {
		acked = leanCheckIn(t, first.addr, ip, "before-kill")
	}

	first.kill(t)
	for _, s := range subs {
		select {
		case err := <-s.ended:
			t.Logf("a subscriber's read ended: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("a subscriber's read still waits 5 s after clnd was killed")
		}
	}

	var last time.Time
	var hostname string
	if err := db.QueryRow(`SELECT last_check_in, hostname FROM ip_licenses WHERE ip = $1`, ip).Scan(&last, &hostname); err != nil {
		t.Fatal(err)
	}
	if acked.Sub(last) > time.Microsecond || hostname != "before-kill" {
		t.Fatalf("after the kill: lastCheckIn %v hostname %q, but a check-in was answered at %v", last, hostname, acked)
	}

	second := startServe(t, bin, url, "")
	again := subscribeWS(t, second.addr, token, ip)
	leanCheckIn(t, second.addr, ip, "after-restart")
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-again.messages:
			if strings.Contains(m, `"after-restart"`) {
				return
			}
		case err := <-again.ended:
			t.Fatalf("the new subscription ended: %v", err)
		case <-timeout:
			t.Fatal("the new subscriber received no event within 5 s of the restart")
		}
	}
}
