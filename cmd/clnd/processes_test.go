package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"clnd/internal/pgtest"
)

// TestTwoProcessesShareCheckIns builds clnd and runs it twice on one
// PostgreSQL, as production does: a dashboard subscribed on the first process
// over a real websocket receives a check-in made through the second, and a
// subscriber of another reseller receives nothing.
func TestTwoProcessesShareCheckIns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dsn := pgtest.DSN(t)
	bin := buildClnd(t)
	if out, err := exec.Command(bin, "migrate", "--database-url", dsn).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	first, second := startProcess(t, bin, dsn), startProcess(t, bin, dsn)
	alice := register(t, first, "alice")
	bob := register(t, first, "bob")
	post(t, first, alice, `mutation { addIPLicense(input: {ip: "203.0.113.10", type: CLOUDLINUX_OS}) { license { id } } }`, nil)

	subAlice := subscribe(t, first, alice)
	subBob := subscribe(t, first, bob)
	// The subscription is registered asynchronously; check in until it shows.
	deadline := time.Now().Add(15 * time.Second)
	for {
		post(t, second, "", `mutation { checkIn(input: {hostname: "from-second"}) { licensed } }`,
			map[string]string{"X-Forwarded-For": "203.0.113.10"})
		select {
		case msg := <-subAlice:
			if !strings.Contains(msg, "from-second") || !strings.Contains(msg, "203.0.113.10") {
				t.Fatalf("alice received %s", msg)
			}
			select {
			case msg := <-subBob:
				t.Fatalf("bob received %s", msg)
			case <-time.After(500 * time.Millisecond):
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the check-in through the second process never reached the first process's subscriber")
		}
	}
}

func startProcess(t *testing.T, bin, dsn string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--sandbox", "--addr", addr, "--database-url", dsn)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("clnd on %s:\n%s", addr, logs.String())
		}
	})
	for i := 0; i < 200; i++ {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("clnd did not start on %s:\n%s", addr, logs.String())
	return ""
}

func post(t *testing.T, addr, token, query string, header map[string]string) json.RawMessage {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data   json.RawMessage
		Errors []any
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) > 0 {
		t.Fatalf("%s: %s", query, raw)
	}
	return out.Data
}

func register(t *testing.T, addr, login string) string {
	t.Helper()
	data := post(t, addr, "", fmt.Sprintf(`mutation { registerReseller(input: {login: %q, password: "correct horse battery",
		billingEmail: "%s@example.com", initialDeposit: "100.00", acceptAgreement: true,
		paymentMethod: {gatewayToken: "tok_visa"}}) { token } }`, login, login), nil)
	var out struct{ RegisterReseller struct{ Token string } }
	_ = json.Unmarshal(data, &out)
	return out.RegisterReseller.Token
}

// subscribe opens a graphql-transport-ws subscription and returns its messages.
func subscribe(t *testing.T, addr, token string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(v any) {
		if err := wsjson.Write(ctx, conn, v); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	var ack map[string]any
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("connection_init: %v %v", ack, err)
	}
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { checkIns { at ip hostname license { id } } }`}})
	out := make(chan string, 100)
	go func() {
		defer conn.CloseNow()
		for {
			var msg map[string]any
			if err := wsjson.Read(ctx, conn, &msg); err != nil {
				return
			}
			if msg["type"] == "next" {
				b, _ := json.Marshal(msg["payload"])
				out <- string(b)
			}
		}
	}()
	return out
}
