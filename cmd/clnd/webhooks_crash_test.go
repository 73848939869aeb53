package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// TestWebhooksSurviveKill: clnd is killed with -9 while webhook deliveries
// are in flight (the receiver holds them open) and queued behind them; a
// restarted clnd delivers every event. Nothing is lost: each delivery and
// its River job were committed with the event, and a job the dead process
// was running is rescued.
func TestWebhooksSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills processes")
	}
	bin := buildClnd(t)
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			url := databaseFor(t, bin, backend)
			crashWithDeliveriesQueued(t, bin, url)
		})
	}
}

func crashWithDeliveriesQueued(t *testing.T, bin, url string) {
	var (
		hold      atomic.Bool // phase 1: hold every request open
		mu        sync.Mutex
		delivered = map[string]int{} // event ID → 2xx answers
		inFlight  atomic.Int32
	)
	hold.Store(true)
	release := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if hold.Load() {
			inFlight.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev struct{ ID string }
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("delivery body %s", body)
		}
		mu.Lock()
		delivered[ev.ID]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	defer close(release)

	first := startServe(t, bin, url, "", "--webhooks-allow-private")
	token := registerWith(t, first.addr, "crashhooks", "250.00", "")
	mustGQL(t, first.addr, token, `mutation($url: String!) { createWebhookEndpoint(input: {url: $url, events: ["license.added"]}) { secret } }`,
		map[string]any{"url": rcv.URL + "/hooks"})
	const n = 20
	for i := 0; i < n; i++ {
		mustGQL(t, first.addr, token, `mutation($ip: String!) { addIPLicense(input: {ip: $ip, type: CLOUDLINUX_OS}) { license { id } } }`,
			map[string]any{"ip": fmt.Sprintf("203.0.113.%d", 10+i)})
	}
	// Wait until the per-endpoint limit's worth of attempts is held open.
	deadline := time.Now().Add(15 * time.Second)
	for inFlight.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d deliveries reached the receiver", inFlight.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.kill(t)

	hold.Store(false)
	second := startServe(t, bin, url, "", "--webhooks-allow-private")
	var ids []string
	raw := mustGQL(t, second.addr, token, `{ events(first: 100, where: {types: ["license.added"]}) { edges { node { id } } } }`, nil)
	var log struct {
		Events struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	if err := json.Unmarshal(raw, &log); err != nil {
		t.Fatal(err)
	}
	for _, e := range log.Events.Edges {
		ids = append(ids, e.Node.ID)
	}
	if len(ids) != n {
		t.Fatalf("%d license.added events, want %d", len(ids), n)
	}
	// In-flight jobs wait for River's rescuer (30 s after they started, on
	// the leader); the rest go at once.
	deadline = time.Now().Add(150 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, id := range ids {
			if delivered[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never delivered after the restart", missing, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, c := range delivered {
		if c != 1 {
			t.Errorf("event %s delivered %d times after the restart", id, c)
		}
	}
	second.stop(t)
}
