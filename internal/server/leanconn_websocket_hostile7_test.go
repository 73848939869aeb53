package server_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"clnd/internal/apitest"
)

// TestHostileLeanWebsocketAfterACheckIn: a connection that served a
// check-in on its lean path is then upgraded to a graphql-transport-ws
// socket (handed to net/http, which hijacks it): the socket works end to
// end through the handed-over connection, a subscription included, and
// its events arrive for check-ins answered on other lean connections.
func TestHostileLeanWebsocketAfterACheckIn(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("lean-ws")
		e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
		answered, handed := leanCount(t, e, "answered"), leanCount(t, e, "handed_over")
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// A check-in first, its answer read to the last byte.
			if _, err := io.WriteString(conn, checkInRequest(`{"hostname":"ws-first.example.com"}`)); err != nil {
				conn.Close()
				return nil, err
			}
			r := bufio.NewReader(conn)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				conn.Close()
				return nil, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || r.Buffered() > 0 {
				conn.Close()
				t.Errorf("the check-in before the upgrade: %s (%d bytes more)", resp.Status, r.Buffered())
			}
			return conn, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.Server.URL, "http")+"/graphql", &websocket.DialOptions{
			Subprotocols: []string{"graphql-transport-ws"},
			HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dial}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		send(t, ctx, conn, `{"type":"connection_init","payload":{"Authorization":"Bearer `+seller.Token+`"}}`)
		if _, b, err := conn.Read(ctx); err != nil || !strings.Contains(string(b), `"connection_ack"`) {
			t.Fatalf("connection_init answered %s %v", b, err)
		}
		send(t, ctx, conn, `{"id":"1","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`)
		waitSubscribers(t, e, 1, 5*time.Second)
		other, or := hostile7Dial(t, e)
		if _, err := io.WriteString(other, checkInRequest(`{"hostname":"ws-event.example.com"}`)); err != nil {
			t.Fatal(err)
		}
		if resp, body := hostile7Read(t, or); resp.StatusCode != http.StatusOK {
			t.Fatalf("check-in: %s %s", resp.Status, body)
		}
		_, b, err := conn.Read(ctx)
		if err != nil || !strings.Contains(string(b), `"ws-event.example.com"`) {
			t.Fatalf("the subscription on the handed-over connection: %s %v", b, err)
		}
		if n := leanCount(t, e, "answered") - answered; n != 2 {
			t.Errorf("%d check-ins answered on lean connections, want 2", n)
		}
		if n := leanCount(t, e, "handed_over") - handed; n != 1 {
			t.Errorf("%d connections handed over, want 1 (the upgrade)", n)
		}
	})
}
