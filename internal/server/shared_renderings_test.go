package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"clnd/internal/apitest"
	"clnd/internal/checkin"
)

// subscriber is an apitest.Sub or a rawSubscriber's stream.
type subscriber interface {
	Next(timeout time.Duration) (json.RawMessage, bool)
}

// nextEvent waits for a subscriber's next event and returns its
// data.checkIns object as raw JSON, failing on errors or silence.
func nextEvent(t *testing.T, s subscriber, who string) map[string]json.RawMessage {
	t.Helper()
	raw, ok := s.Next(10 * time.Second)
	if !ok {
		t.Fatalf("%s: no event", who)
	}
	var m struct {
		Data struct {
			CheckIns map[string]json.RawMessage `json:"checkIns"`
		} `json:"data"`
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Errors != nil || m.Data.CheckIns == nil {
		t.Fatalf("%s: %s (%v)", who, raw, err)
	}
	return m.Data.CheckIns
}

// fieldsOf lists an object's keys, sorted by encoding/json's map order.
func fieldsOf(obj map[string]json.RawMessage) string {
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprint(keys)
}

// An event is rendered once for the subscriptions that share a document
// and a credential, and separately for every other caller: an operator and
// the reseller whose check-in it is, or two credentials of one reseller
// (even of the same scope), never share a rendering.
func TestSharedRenderingsNeverCrossCallers(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "web1")
		apiToken, otherToken := e.APIToken(a.Token, "READ"), e.APIToken(a.Token, "READ")
		const doc = `subscription { checkIns { ip hostname license { id hostname } } }`
		subs := map[string]*apitest.Sub{
			"session 1": e.Subscribe(a.Token, doc, nil),
			"session 2": e.Subscribe(a.Token, doc, nil),
			"API token": e.Subscribe(apiToken, doc, nil),
			"another":   e.Subscribe(otherToken, doc, nil),
			"operator":  e.Subscribe(e.OperatorToken, doc, nil),
		}
		before := e.Instance.Hub().Renderings()
		if r := e.CheckInFrom("203.0.113.10", "shared-1"); r.Code() != "" {
			t.Fatalf("check-in: %s", r.Raw)
		}
		for who, s := range subs {
			ev := nextEvent(t, s, who)
			if string(ev["hostname"]) != `"shared-1"` || string(ev["ip"]) != `"203.0.113.10"` {
				t.Fatalf("%s received %v", who, ev)
			}
		}
		// The session's two subscriptions share one; each API token (of
		// the same reseller and scope) and the operator render their own.
		if n := e.Instance.Hub().Renderings() - before; n != 4 {
			t.Fatalf("%d renderings of one event for 2 subscriptions sharing a session, 2 API tokens and an operator: want 4", n)
		}
	}, apitest.WithoutShadow())
}

// Subscriptions that differ only in their document, operation or
// variables each receive the event in their own shape.
func TestSharedRenderingsKeepEachShape(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "web1")
		const withIP = `subscription($withIP: Boolean!) { checkIns { hostname ip @include(if: $withIP) } }`
		const named = `subscription A { checkIns { hostname } } subscription B { checkIns { ip } }`
		cases := []struct {
			name, query string
			vars        map[string]any
			want        string
		}{
			{"hostname", `subscription { checkIns { hostname } }`, nil, "[hostname]"},
			{"license", `subscription { checkIns { hostname license { id } } }`, nil, "[hostname license]"},
			{"aliased", `subscription { checkIns { host: hostname } }`, nil, "[host]"},
			{"include ip", withIP, map[string]any{"withIP": true}, "[hostname ip]"},
			{"skip ip", withIP, map[string]any{"withIP": false}, "[hostname]"},
			{"operation A", named, nil, "[hostname]"},
			{"operation B", named, nil, "[ip]"},
		}
		subs := make([]subscriber, len(cases))
		for i, c := range cases {
			switch c.name {
			case "operation A", "operation B":
				subs[i] = subscribeOperation(t, e, a.Token, c.query, strings.TrimPrefix(c.name, "operation "))
			default:
				subs[i] = e.Subscribe(a.Token, c.query, c.vars)
			}
		}
		for round := range 3 {
			if r := e.CheckInFrom("203.0.113.10", fmt.Sprintf("shape-%d", round)); r.Code() != "" {
				t.Fatalf("check-in: %s", r.Raw)
			}
			for i, c := range cases {
				if got := fieldsOf(nextEvent(t, subs[i], c.name)); got != c.want {
					t.Fatalf("round %d: %s received %s, want %s", round, c.name, got, c.want)
				}
			}
		}
	}, apitest.WithoutShadow())
}

// subscribeOperation subscribes with a named operation of a document (which
// apitest.Subscribe does not send) and waits until the instance holds it.
func subscribeOperation(t *testing.T, e *apitest.Env, token, query, operation string) subscriber {
	t.Helper()
	ws := dialSubscriber(t, e, token, 0)
	before := e.Subscribers()
	ws.write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "operationName": operation}})
	waitSubscribers(t, e, before+1, 10*time.Second)
	return ws.sub()
}

type rawSubscriber struct {
	t    *testing.T
	ctx  context.Context
	conn *websocket.Conn
}

// dialSubscriber opens an acknowledged graphql-transport-ws connection,
// with a socket receive buffer of receiveBuffer bytes unless 0.
func dialSubscriber(t *testing.T, e *apitest.Env, token string, receiveBuffer int) *rawSubscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	opts := &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}}
	if receiveBuffer > 0 {
		dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var err error
			if cerr := c.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, receiveBuffer)
			}); cerr != nil {
				return cerr
			}
			return err
		}}
		opts.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	}
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	conn.SetReadLimit(1 << 20)
	s := &rawSubscriber{t: t, ctx: ctx, conn: conn}
	s.write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	var ack struct{ Type string }
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("connection_init answered %+v, %v", ack, err)
	}
	return s
}

func (s *rawSubscriber) write(v any) {
	s.t.Helper()
	if err := wsjson.Write(s.ctx, s.conn, v); err != nil {
		s.t.Fatal(err)
	}
}

// events reads the connection's events.
type events chan json.RawMessage

func (ev events) Next(timeout time.Duration) (json.RawMessage, bool) {
	select {
	case m, ok := <-ev:
		return m, ok
	case <-time.After(timeout):
		return nil, false
	}
}

// sub reads the connection's events until the subscription ends.
func (s *rawSubscriber) sub() subscriber {
	events := make(events, 10000)
	go func() {
		defer close(events)
		for {
			var m struct {
				Type    string
				Payload json.RawMessage
			}
			if err := wsjson.Read(s.ctx, s.conn, &m); err != nil || m.Type != "next" {
				return
			}
			events <- m.Payload
		}
	}()
	return events
}

// A subscriber that stops reading is dropped without holding up the others
// of its group, although they share its renderings: it subscribed first,
// and the reader keeps receiving every event while the stuck one's socket
// and buffer fill up, until the hub lets it go.
func TestSharedRenderingsDropAStuckSubscriberAlone(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		// Large events (the hostname 60 times over, ≈ 13 kB), so that the
		// stuck connection's socket buffers (megabytes on loopback) fill in
		// a few hundred events.
		var aliases strings.Builder
		for i := range 60 {
			fmt.Fprintf(&aliases, " h%d: hostname", i)
		}
		doc := `subscription { checkIns { ip license { id }` + aliases.String() + ` } }`
		stuck := dialSubscriber(t, e, a.Token, 4096) // never reads after subscribing
		before := e.Subscribers()
		stuck.write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": doc}})
		waitSubscribers(t, e, before+1, 10*time.Second)
		reader := e.Subscribe(a.Token, doc, nil)
		_, _, droppedBefore := e.Instance.Hub().Stats()

		const events, rate = 1500, 300
		pad := strings.Repeat("x", 200)
		received := make(chan int, 1)
		go func() {
			n := 0
			defer func() { received <- n }()
			for n < events {
				if _, ok := reader.Next(10 * time.Second); !ok {
					return
				}
				n++
			}
		}()
		// At a rate a reading subscriber keeps up with even on a loaded
		// machine (one that falls a buffer behind is dropped as well).
		start := time.Now()
		sent := make(chan time.Duration, 1)
		go func() {
			var wg sync.WaitGroup
			work := make(chan int)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						req := checkin.Request{Addr: netip.MustParseAddr("203.0.113.10"), Hostname: fmt.Sprintf("%d-%s", i, pad), At: time.Now()}
						if _, err := e.Instance.CheckIns().CheckIn(context.Background(), req); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			for i := range events {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
				work <- i
			}
			close(work)
			wg.Wait()
			sent <- time.Since(start)
		}()
		var took time.Duration
		select {
		case took = <-sent:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d check-ins at %d/s still not answered after 30 s", events, rate)
		}
		var n int
		select {
		case n = <-received:
		case <-time.After(30 * time.Second):
			t.Fatal("the reader is still waiting 30 s after the last check-in")
		}
		if n != events {
			_, _, dropped := e.Instance.Hub().Stats()
			t.Fatalf("the reader received %d of %d events (%d subscribers dropped)", n, events, dropped-droppedBefore)
		}
		late := time.Since(start) - took
		if _, _, dropped := e.Instance.Hub().Stats(); dropped != droppedBefore+1 {
			t.Fatalf("%d subscribers dropped, want the stuck one (1)", dropped-droppedBefore)
		}
		if late > 5*time.Second {
			t.Fatalf("the reader's last event came %v after the last check-in", late)
		}
		t.Logf("%d check-ins in %v; the reader had them all %v later", events, took.Round(time.Millisecond), late.Round(time.Millisecond))
	}, apitest.WithoutShadow())
}

// Revoking the credential a group of subscriptions shares ends all of them
// at once, while events keep arriving; another credential's subscription
// with the same document goes on.
func TestRevocationEndsSharedSubscriptions(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		token, id := createToken(e, a.Token)
		shared := []*apitest.Sub{e.Subscribe(token, revocationSub, nil), e.Subscribe(token, revocationSub, nil), e.Subscribe(token, revocationSub, nil)}
		other := e.Subscribe(a.Token, revocationSub, nil)
		if r := e.CheckInFrom("203.0.113.10", "before"); r.Code() != "" {
			t.Fatalf("check-in: %s", r.Raw)
		}
		for i, s := range shared {
			nextEvent(t, s, fmt.Sprintf("shared %d", i))
		}
		nextEvent(t, other, "other")

		// Check-ins keep coming while the token is revoked.
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.Instance.CheckIns().CheckIn(context.Background(), checkin.Request{Addr: netip.MustParseAddr("203.0.113.10"), Hostname: fmt.Sprintf("during-%d", i), At: time.Now()})
			}
		}()
		defer func() { close(stop); <-done }()
		time.Sleep(100 * time.Millisecond)
		e.Query(a.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`, map[string]any{"id": id}, nil)
		revoked := time.Now()
		for i, s := range shared {
			// Events rendered before the revocation may still arrive; the
			// stream must end within the revocation's reach all the same.
			for {
				if _, ok := s.Next(revocationReach); !ok {
					break
				}
				if time.Since(revoked) > revocationReach {
					t.Fatalf("shared %d still receives events %v after the revocation", i, revocationReach)
				}
			}
			if time.Since(revoked) > 2*revocationReach {
				t.Fatalf("shared %d ended %v after the revocation", i, time.Since(revoked))
			}
		}
		waitSubscribers(t, e, 1, revocationReach)
		nextEvent(t, other, "other, after the revocation")
	}, apitest.WithoutShadow())
}
