package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

// startProduction runs clnd serve without --sandbox (the system clock, so
// that every check-in has its own time) and waits until it is ready.
func startProduction(t *testing.T, bin, url string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := startProc(t, bin, nil, "serve", "--allow-sandbox-gateway", "--addr", addr, "--database-url", url)
	p.addr = addr
	return waitReady(t, p)
}

// h5Load checks in the addresses from clients goroutines through both
// endpoints until stop, and returns, per address, the newest check-in
// answered 200. A refusal other than 503 UNAVAILABLE is an error; a broken
// connection (the process killed or stopped) ends that client.
func h5Load(t *testing.T, addr string, ips []string, clients int, tag string, stop *atomic.Bool) func() map[string]h5Acked {
	var ok, unavailable atomic.Int64
	var mu sync.Mutex
	newest := map[string]h5Acked{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				ip := ips[(c+n)%len(ips)]
				name := fmt.Sprintf("%s-c%d-n%d", tag, c, n)
				path, body := "/v1/checkin", `{"hostname":"`+name+`"}`
				if n%2 == 1 {
					path, body = "/graphql", `{"query":"mutation($h: String) { checkIn(input: {hostname: $h}) { at } }","variables":{"h":"`+name+`"}}`
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", ip)
				resp, err := client.Do(req)
				if err != nil {
					return // the process is gone
				}
				var out struct {
					At     time.Time
					Data   struct{ CheckIn *struct{ At time.Time } }
					Errors []struct{ Extensions struct{ Code string } }
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil {
					return // cut off mid-answer
				}
				if out.Data.CheckIn != nil {
					out.At = out.Data.CheckIn.At
				}
				switch {
				case resp.StatusCode == http.StatusOK && len(out.Errors) == 0 && !out.At.IsZero():
					ok.Add(1)
					mu.Lock()
					if out.At.After(newest[ip].at) {
						newest[ip] = h5Acked{out.At, name}
					}
					mu.Unlock()
				case len(out.Errors) > 0 && out.Errors[0].Extensions.Code == "UNAVAILABLE":
					unavailable.Add(1)
				default:
					t.Errorf("%s as %s answered %d: %+v", name, ip, resp.StatusCode, out)
					return
				}
			}
		}()
	}
	return func() map[string]h5Acked {
		wg.Wait()
		t.Logf("%s: %d check-ins answered 200, %d 503", tag, ok.Load(), unavailable.Load())
		return newest
	}
}

type h5Acked struct {
	at   time.Time
	name string
}

// h5Verify: every license of each address holds its newest acknowledged
// check-in or a later one, and the licenses of one address (written by one
// statement each time) agree on lastCheckIn and hostname.
func h5Verify(t *testing.T, db *sql.DB, ips []string, acked map[string]h5Acked) {
	t.Helper()
	for _, ip := range ips {
		rows, err := db.Query(`SELECT last_check_in, hostname FROM ip_licenses WHERE ip = $1 AND removed_at IS NULL`, ip)
		if err != nil {
			t.Fatal(err)
		}
		var first *struct {
			at   time.Time
			host string
		}
		for rows.Next() {
			var at sql.NullTime
			var host string
			if err := rows.Scan(&at, &host); err != nil {
				t.Fatal(err)
			}
			a := acked[ip]
			if !a.at.IsZero() && (!at.Valid || a.at.Sub(at.Time) > 0) {
				t.Errorf("%s: lastCheckIn %v, but %s was answered 200 at %v", ip, at.Time, a.name, a.at)
			}
			if first == nil {
				first = &struct {
					at   time.Time
					host string
				}{at.Time, host}
			} else if !first.at.Equal(at.Time) || first.host != host {
				t.Errorf("%s: its licenses disagree: %v %q and %v %q", ip, first.at, first.host, at.Time, host)
			}
		}
		rows.Close()
	}
}

// TestHostile5KillAndStopUnderSameLicenseLoad: clnd serve (production
// mode, two writers) under a load of 16 clients checking in the same three
// addresses (two licenses each) through both endpoints is killed with -9,
// restarted on the same database, loaded again and stopped with SIGTERM,
// and started once more. Each time every check-in answered 200 is in the
// database (nothing lost, nothing half-written: the two licenses of an
// address agree), no check-in is answered anything but 200 or 503
// UNAVAILABLE, the stop ends the process cleanly within its bounds, and the
// next process checks in.
func TestHostile5KillAndStopUnderSameLicenseLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills processes")
	}
	bin, url, db := killTestDatabase(t)
	p := startProduction(t, bin, url)
	token := registerWith(t, p.addr, "writers5", "250.00", "")
	ips := []string{"93.184.216.101", "93.184.216.102", "93.184.216.103"}
	for _, ip := range ips {
		for _, typ := range []string{"KERNELCARE", "CLOUDLINUX_OS"} {
			mustGQL(t, p.addr, token, fmt.Sprintf(`mutation { addIPLicense(input: {ip: %q, type: %s}) { license { id } } }`, ip, typ), nil)
		}
	}

	var stop atomic.Bool
	wait := h5Load(t, p.addr, ips, 16, "kill", &stop)
	time.Sleep(1500 * time.Millisecond)
	p.kill(t)
	stop.Store(true)
	acked := wait()
	if len(acked) != len(ips) {
		t.Fatalf("check-ins answered before the kill: %v", acked)
	}
	h5Verify(t, db, ips, acked)

	p = startProduction(t, bin, url)
	stop.Store(false)
	wait = h5Load(t, p.addr, ips, 16, "term", &stop)
	time.Sleep(1500 * time.Millisecond)
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("clnd serve ended with %v after SIGTERM under load", p.err)
		}
		t.Logf("clnd ended %v after SIGTERM under load", time.Since(began).Round(time.Millisecond))
	case <-time.After(45 * time.Second):
		t.Fatal("clnd still runs 45 s after SIGTERM")
	}
	stop.Store(true)
	after := wait()
	for ip, a := range after {
		if a.at.Before(acked[ip].at) {
			t.Errorf("%s: answered at %v after the restart, before the kill's %v", ip, a.at, acked[ip].at)
		}
	}
	h5Verify(t, db, ips, after)

	p = startProduction(t, bin, url)
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/v1/checkin", strings.NewReader(`{"hostname":"last"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ips[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a check-in after the restarts: %v %v", err, resp)
	}
	resp.Body.Close()
	var host string
	if err := db.QueryRow(`SELECT hostname FROM ip_licenses WHERE ip = $1 LIMIT 1`, ips[0]).Scan(&host); err != nil || host != "last" {
		t.Fatalf("after the last check-in the hostname is %q (%v)", host, err)
	}
}
