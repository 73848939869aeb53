package checkin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// h5CheckIn is one check-in a client sent and what it was answered.
type h5CheckIn struct {
	ip, hostname string
	status       int
	code         string
	raw          string
	at           time.Time
}

// h5Event is a checkIns event as a subscriber received it.
type h5Event struct {
	Data struct {
		CheckIns struct {
			At       time.Time
			IP       string
			Hostname string
			License  *struct{ ID string }
		}
	}
}

// h5Send checks in as ip with hostname through the lean endpoint (even n)
// or the mutation (odd n). It calls no t method: it runs in the clients'
// goroutines.
func h5Send(e *apitest.Env, n int, ip, hostname string) h5CheckIn {
	c := h5CheckIn{ip: ip, hostname: hostname}
	path, body := "/v1/checkin", map[string]any{"hostname": hostname}
	if n%2 == 1 {
		path, body = "/graphql", map[string]any{"query": apitest.CheckInMutation, "variables": map[string]any{"host": hostname}}
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		c.raw = err.Error()
		return c
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	c.status, c.raw = resp.StatusCode, string(raw)
	var out struct {
		At     time.Time
		Data   struct{ CheckIn *struct{ At time.Time } }
		Errors []apitest.Error
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		c.code = "not JSON"
		return c
	}
	c.at = out.At
	if out.Data.CheckIn != nil {
		c.at = out.Data.CheckIn.At
	}
	if len(out.Errors) > 0 {
		c.code, _ = out.Errors[0].Extensions["code"].(string)
		if c.code == "" {
			c.code = "no code"
		}
	}
	return c
}

// Two instances, many clients each, all checking in the same three
// addresses (two licenses on each) as fast as they can, through both the
// lean endpoint and the mutation, while two subscribers on each instance
// (websocket and SSE) watch. Each instance writes two batches at once, so
// up to four statements touch the same rows together.
//
//   - every check-in is answered 200 (no deadlock, no error reaches a client);
//   - each license ends with the newest answered check-in: lastCheckIn is the
//     greatest answered at, its hostname that check-in's;
//   - every subscriber receives every event exactly once (one per license
//     on the address), and a client's own check-ins (sequential, so taken
//     in successive batches of one instance) in the order it sent them.
func TestHostile5SameLicensesFromTwoInstancesAndManyClients(t *testing.T) {
	first := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow())
	second := apitest.Reopen(t, first, apitest.WithoutShadow())
	r := first.Register("alice")
	ips := []string{"93.184.216.61", "93.184.216.62", "93.184.216.63"}
	licenseIP := map[string]string{}
	var licenses []string
	for _, ip := range ips {
		for _, typ := range []string{"KERNELCARE", "CLOUDLINUX_OS"} {
			id := first.AddLicense(r.Token, ip, typ, "")
			licenseIP[id] = ip
			licenses = append(licenses, id)
		}
	}
	// Each subscriber watches one license, so that its events (one per
	// check-in of that address) stay below the 256 a subscriber may fall
	// behind by: a dashboard that falls behind is disconnected (documented),
	// which is not what this test is about. Both instances, both
	// transports, every license.
	const query = `subscription($id: ID) { checkIns(where: {licenseID: $id}) { at ip hostname license { id } } }`
	type watcher struct {
		sub     *apitest.Sub
		license string
		where   string
	}
	var subs []watcher
	for i, id := range licenses {
		vars := map[string]any{"id": id}
		subs = append(subs,
			watcher{first.Subscribe(r.Token, query, vars), id, "first, websocket"},
			watcher{second.SubscribeSSE(r.Token, query, vars), id, "second, SSE"})
		if i%2 == 0 {
			subs = append(subs, watcher{second.Subscribe(r.Token, query, vars), id, "second, websocket"})
		} else {
			subs = append(subs, watcher{first.SubscribeSSE(r.Token, query, vars), id, "first, SSE"})
		}
	}

	const clients, rounds = 12, 18 // per instance: 144 check-ins of each address
	answers := make([][]h5CheckIn, 2*clients)
	var wg sync.WaitGroup
	for i, e := range []*apitest.Env{first, second} {
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := i*clients + c
				for n := range rounds {
					ip := ips[(client+n)%len(ips)]
					answers[client] = append(answers[client], h5Send(e, client+n, ip, fmt.Sprintf("i%d-c%d-n%d", i, client, n)))
				}
			}()
		}
	}
	wg.Wait()

	newest := map[string]h5CheckIn{}
	sent := map[string]h5CheckIn{} // by hostname
	for _, list := range answers {
		for _, c := range list {
			if c.status != http.StatusOK || c.code != "" || c.at.IsZero() {
				t.Fatalf("%s as %s answered %d %s: %s", c.hostname, c.ip, c.status, c.code, c.raw)
			}
			sent[c.hostname] = c
			if n, ok := newest[c.ip]; !ok || c.at.After(n.at) {
				newest[c.ip] = c
			}
		}
	}
	got := lastCheckIns(t, first, r.Token)
	for _, ip := range ips {
		for _, typ := range []string{"KERNELCARE", "CLOUDLINUX_OS"} {
			row, want := got[ip+" "+typ], newest[ip]
			if row.LastCheckIn == nil || !row.LastCheckIn.Equal(want.at) {
				t.Errorf("%s %s: lastCheckIn %v, newest answered %v (%s)", ip, typ, row.LastCheckIn, want.at, want.hostname)
				continue
			}
			if row.Hostname != want.hostname {
				// Only a check-in of the same microsecond may have won.
				if tie, ok := sent[row.Hostname]; !ok || !tie.at.Equal(want.at) {
					t.Errorf("%s %s: hostname %q, the newest check-in (%v) was %q", ip, typ, row.Hostname, want.at, want.hostname)
				}
			}
		}
	}

	perIP := map[string]int{}
	for _, c := range sent {
		perIP[c.ip]++
	}
	for _, w := range subs {
		want := perIP[licenseIP[w.license]]
		seen := map[string]bool{}     // hostnames
		lastN := map[int]int{}        // client -> its last check-in received
		lastAt := map[int]time.Time{} // origin instance -> last at
		backwards := 0
		for k := 0; k < want; k++ {
			raw, ok := w.sub.Next(20 * time.Second)
			if !ok {
				t.Fatalf("%s, license %s: %d events of %d", w.where, w.license, k, want)
			}
			var ev h5Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("%s: %s: %v", w.where, raw, err)
			}
			c := ev.Data.CheckIns
			orig, ok := sent[c.Hostname]
			if c.License == nil || c.License.ID != w.license || !ok || c.IP != orig.ip || licenseIP[w.license] != orig.ip || !c.At.Equal(orig.at) {
				t.Fatalf("%s, license %s: event %s matches no answered check-in (%+v)", w.where, w.license, raw, orig)
			}
			if seen[c.Hostname] {
				t.Fatalf("%s: event %s received twice", w.where, raw)
			}
			seen[c.Hostname] = true
			var inst, client, n int
			if _, err := fmt.Sscanf(c.Hostname, "i%d-c%d-n%d", &inst, &client, &n); err != nil {
				t.Fatal(err)
			}
			if last, ok := lastN[client]; ok && n < last {
				t.Errorf("%s, license %s: client %d's check-in %d after its %d", w.where, w.license, client, n, last)
			}
			lastN[client] = n
			if c.At.Before(lastAt[inst]) {
				backwards++
			}
			lastAt[inst] = c.At
		}
		if raw, ok := w.sub.Next(300 * time.Millisecond); ok {
			t.Fatalf("%s: an event past the %d expected: %s", w.where, want, raw)
		}
		if backwards > 0 {
			t.Logf("%s, license %s: %d events older than the one before from the same instance", w.where, w.license, backwards)
		}
	}
	var deadlocks int64
	_ = first.DB.SQL.QueryRow(`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&deadlocks)
	t.Logf("%d check-ins, %d deadlocks seen by PostgreSQL", len(sent), deadlocks)
}
