package main

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestGracefulStopSendsGoingAway: SIGTERM stops clnd serve cleanly, and its
// websocket subscribers (graphql-transport-ws and legacy graphql-ws) get a
// close frame 1001 Going Away before the process ends, not the EOF a killed
// process leaves them.
func TestGracefulStopSendsGoingAway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and stops a process")
	}
	bin := buildClnd(t)
	p := startServe(t, bin, databaseFor(t, bin, "sqlite"), "")
	token := registerWith(t, p.addr, "goingaway", "250.00", "")
	const ip = "203.0.113.61"
	mustGQL(t, p.addr, token, `mutation { addIPLicense(input: {ip: "`+ip+`", type: KERNELCARE}) { license { id } } }`, nil)
	current := subscribeWS(t, p.addr, token, ip)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	legacy, _, err := websocket.Dial(ctx, "ws://"+p.addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { legacy.CloseNow() })
	for _, m := range []string{
		`{"type":"connection_init","payload":{"Authorization":"Bearer ` + token + `"}}`,
		`{"id":"1","type":"start","payload":{"query":"subscription { checkIns { hostname } }"}}`,
	} {
		if err := legacy.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, b, err := legacy.Read(ctx); err != nil || !strings.Contains(string(b), "connection_ack") {
		t.Fatalf("legacy connection_init answered %s %v", b, err)
	}
	legacyEnded := make(chan error, 1)
	go func() {
		for {
			if _, _, err := legacy.Read(ctx); err != nil {
				legacyEnded <- err
				return
			}
		}
	}()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for name, ended := range map[string]chan error{"graphql-transport-ws": current.ended, "graphql-ws": legacyEnded} {
		select {
		case err := <-ended:
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
				t.Errorf("%s: SIGTERM ended the socket with %v, want close 1001", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the socket was still open 10 s after SIGTERM", name)
		}
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("clnd did not stop cleanly: %v\n%s", err, p.output())
	}
}
