package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/ent"
	"clnd/ent/iplicense"
)

// TestHostileKillDuringLeanCheckIns: clnd serve answering agents' check-ins
// on lean connections (pipelined, four at a time, on keep-alive
// connections) is killed with -9. Every check-in it answered 200 is in the
// database afterwards (a crash of clnd, not of PostgreSQL, loses nothing
// answered: docs/checkins.md), and the restarted clnd serves lean
// connections again. The sandbox clock stands still, so every check-in
// has the same time: an answered one is found by its hostname (a host's
// check-ins are written in the order they were taken, the last one's
// hostname stays). On PostgreSQL and SQLite.
func TestHostileKillDuringLeanCheckIns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills processes")
	}
	bin := buildClnd(t)
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) { killDuringLeanCheckIns(t, bin, databaseFor(t, bin, backend)) })
	}
}

func killDuringLeanCheckIns(t *testing.T, bin, url string) {
	victim := startServe(t, bin, url, "")
	token := registerWith(t, victim.addr, "leankill7", "250.00", "")
	const hosts = 16
	ip := func(i int) string { return fmt.Sprintf("203.0.113.%d", 150+i) }
	for i := range hosts {
		mustGQL(t, victim.addr, token, fmt.Sprintf(`mutation { addIPLicense(input: {ip: %q, type: KERNELCARE}) { license { id } } }`, ip(i)), nil)
	}
	checkIn := func(host, name string) string {
		body := `{"hostname":"` + name + `"}`
		return "POST /v1/checkin HTTP/1.1\r\nHost: clnd.test\r\nContent-Type: application/json\r\nX-Forwarded-For: " + host +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}

	// One agent per host, each on its own keep-alive connection, four
	// check-ins pipelined at a time.
	var (
		mu    sync.Mutex
		last  = map[string]time.Time{}
		seqs  = map[int]int{}
		acked atomic.Int64
		wg    sync.WaitGroup
	)
	for h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", victim.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(conn)
			for seq := 0; ; seq += 4 {
				var raw strings.Builder
				for k := range 4 {
					raw.WriteString(checkIn(ip(h), fmt.Sprintf("h%d-s%d", h, seq+k)))
				}
				if _, err := io.WriteString(conn, raw.String()); err != nil {
					return // killed
				}
				for k := range 4 {
					resp, err := http.ReadResponse(r, nil)
					if err != nil {
						return // killed
					}
					var out struct{ At time.Time }
					err = json.NewDecoder(resp.Body).Decode(&out)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || err != nil {
						t.Errorf("check-in answered %d (%v)", resp.StatusCode, err)
						return
					}
					acked.Add(1)
					mu.Lock()
					if out.At.After(last[ip(h)]) {
						last[ip(h)] = out.At
					}
					seqs[h] = seq + k
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	answered := leanAnswered(t, victim.addr)
	victim.kill(t)
	wg.Wait()
	if answered == 0 || acked.Load() == 0 {
		t.Fatalf("before the kill: %d check-ins answered on lean connections, %d acknowledged", answered, acked.Load())
	}

	mu.Lock()
	withDB(t, url, func(ctx context.Context, db *ent.Client) {
		for h, seq := range seqs {
			l, err := db.IPLicense.Query().Where(iplicense.IP(ip(h))).Only(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if at := last[ip(h)]; l.LastCheckIn == nil || at.Sub(*l.LastCheckIn) > time.Microsecond {
				t.Errorf("%s: lastCheckIn %v, but a check-in was answered at %v", ip(h), l.LastCheckIn, at)
			}
			var host, written int
			if _, err := fmt.Sscanf(l.Hostname, "h%d-s%d", &host, &written); err != nil || host != h || written < seq {
				t.Errorf("%s: the last check-in written is %q, but h%d-s%d was answered 200", ip(h), l.Hostname, h, seq)
			}
		}
	})
	mu.Unlock()
	t.Logf("%d check-ins acknowledged (%d on lean connections by the last count) before the kill", acked.Load(), answered)

	// The restarted clnd answers on lean connections again, keep-alive.
	again := startServe(t, bin, url, "")
	conn, err := net.Dial("tcp", again.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for i := range 3 {
		if _, err := io.WriteString(conn, checkIn(ip(i), "after")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("check-in after the restart: %s", resp.Status)
		}
	}
	if n := leanAnswered(t, again.addr); n != 3 {
		t.Errorf("the restarted clnd answered %d check-ins on lean connections, want 3", n)
	}
}

var leanAnsweredMetric = regexp.MustCompile(`(?m)^clnd_lean_connections_total\{outcome="answered"\} (\d+)$`)

// leanAnswered is clnd_lean_connections_total{outcome="answered"} of the
// clnd serving at addr.
func leanAnswered(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := leanAnsweredMetric.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
