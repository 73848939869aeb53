package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

// TestHostileKillDuringCheckIns: of two instances on one PostgreSQL
// database, the one serving a check-in load and a live subscriber is
// killed with -9. Afterwards every acknowledged check-in is in the database
// (lastCheckIn at least its answer's at), the other instance goes on
// checking in, and the dead instance's live_instances row (which makes the
// other NOTIFY) is bounded by its two minutes rather than kept forever.
func TestHostileKillDuringCheckIns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills processes")
	}
	bin, url, db := killTestDatabase(t)

	survivor := startServe(t, bin, url, "")
	victim := startServe(t, bin, url, "")
	token := registerWith(t, survivor.addr, "kill9", "250.00", "")
	const hosts = 8 // one per agent below
	ip := func(i int) string { return fmt.Sprintf("203.0.113.%d", 100+i) }
	for i := 0; i < hosts; i++ {
		mustGQL(t, survivor.addr, token, fmt.Sprintf(`mutation { addIPLicense(input: {ip: %q, type: KERNELCARE}) { license { id } } }`, ip(i)), nil)
	}

	// A live subscriber on the victim (server-sent events).
	body, _ := json.Marshal(map[string]any{"query": `subscription { checkIns { hostname } }`})
	req, _ := http.NewRequest(http.MethodPost, "http://"+victim.addr+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var events atomic.Int64
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				events.Add(1)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM live_instances WHERE until > now()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d live_instances rows with a subscriber on the victim", n)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Check-ins on both instances; the victim is killed in the middle.
	// Each agent checks in its own host, one check-in at a time, with a
	// hostname of its own each time: the sandbox clock stands still, so
	// the hostname, not the time, says which check-in was written last.
	type agent struct {
		acked, sent string // the last check-in answered 200; one sent and not answered
	}
	var mu sync.Mutex
	agents := make([]agent, hosts)
	var stop atomic.Bool
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < hosts; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := victim.addr
			if w%4 == 0 {
				addr = survivor.addr
			}
			for seq := 0; !stop.Load(); seq++ {
				name := fmt.Sprintf("w%d-s%d", w, seq)
				mu.Lock()
				agents[w].sent = name
				mu.Unlock()
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/checkin", strings.NewReader(`{"hostname":"`+name+`"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", ip(w))
				resp, err := client.Do(req)
				if err != nil {
					if addr == victim.addr {
						return // killed
					}
					t.Errorf("the survivor failed a check-in: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("check-in answered %d", resp.StatusCode)
					return
				}
				mu.Lock()
				agents[w].acked, agents[w].sent = name, ""
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	victim.kill(t)
	time.Sleep(500 * time.Millisecond) // the survivor goes on
	stop.Store(true)
	wg.Wait()
	if events.Load() == 0 {
		t.Error("the victim's subscriber received no event before the kill")
	}

	// Every acknowledged check-in was written: each host's hostname is its
	// last answered check-in's, or the one its agent sent after it (which
	// may have been written before the kill without its answer arriving).
	mu.Lock()
	defer mu.Unlock()
	for w, a := range agents {
		if a.acked == "" {
			t.Errorf("%s: no check-in was answered", ip(w))
			continue
		}
		var hostname string
		if err := db.QueryRow(`SELECT hostname FROM ip_licenses WHERE ip = $1`, ip(w)).Scan(&hostname); err != nil {
			t.Fatal(err)
		}
		if hostname != a.acked && (a.sent == "" || hostname != a.sent) {
			t.Errorf("%s: hostname %q, but the check-in %q was answered 200 (and %q sent after it)", ip(w), hostname, a.acked, a.sent)
		}
	}
	// The dead instance's row lasts its two minutes, no longer.
	var rows int
	var left float64
	if err := db.QueryRow(`SELECT count(*), COALESCE(max(EXTRACT(EPOCH FROM until - now())), 0) FROM live_instances`).Scan(&rows, &left); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || left > 120 {
		t.Errorf("after the kill: %d live_instances rows, the newest expiring in %.0f s", rows, left)
	}
	t.Logf("the killed instance's row lists it for %.0f s more; %d events reached its subscriber", left, events.Load())
	// The survivor still checks in.
	r, _ := http.NewRequest(http.MethodPost, "http://"+survivor.addr+"/v1/checkin", strings.NewReader(`{"hostname":"after"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Forwarded-For", ip(0))
	after, err := client.Do(r)
	if err != nil || after.StatusCode != http.StatusOK {
		t.Fatalf("the survivor's check-in after the kill: %v %v", err, after)
	}
	after.Body.Close()
}
