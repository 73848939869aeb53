package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/ent"
	"clnd/ent/event"
	"clnd/internal/apitest"
)

// TestHostileKillMidEmitBurst: clnd is killed with -9 during a burst of
// concurrent addIPLicense calls (each writing license.added and a delivery
// with its River job). After a restart: every acknowledged license exists;
// every license has exactly one license.added event and every event its
// license (no event of a change that did not commit); every event has its
// delivery and every delivery its event; every event reaches the receiver.
func TestHostileKillMidEmitBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills processes")
	}
	bin := buildClnd(t)
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			url := databaseFor(t, bin, backend)
			var mu sync.Mutex
			delivered := map[string]int{}
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var ev struct{ ID string }
				_ = json.Unmarshal(body, &ev)
				mu.Lock()
				delivered[ev.ID]++
				mu.Unlock()
			}))
			defer rcv.Close()

			first := startServe(t, bin, url, "", "--webhooks-allow-private")
			token := registerWith(t, first.addr, "burst", "250.00", "")
			mustGQL(t, first.addr, token, `mutation($url: String!) { createWebhookEndpoint(input: {url: $url, events: ["license.added"]}) { secret } }`,
				map[string]any{"url": rcv.URL + "/hooks"})
			var (
				ackMu sync.Mutex
				acked []string
				next  atomic.Int32
				stop  atomic.Bool
				wg    sync.WaitGroup
			)
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						i := next.Add(1)
						ip := fmt.Sprintf("203.0.%d.%d", 113-int(i/250)%2*13, 1+i%250)
						raw, errs, err := gql(first.addr, token, `mutation($ip: String!) { addIPLicense(input: {ip: $ip, type: CLOUDLINUX_OS}) { license { id } } }`,
							map[string]any{"ip": ip})
						if err == nil && len(errs) == 0 {
							var out struct {
								AddIPLicense struct{ License struct{ ID string } }
							}
							if json.Unmarshal(raw, &out) == nil && out.AddIPLicense.License.ID != "" {
								ackMu.Lock()
								acked = append(acked, out.AddIPLicense.License.ID)
								ackMu.Unlock()
							}
						}
					}
				}()
			}
			time.Sleep(1500 * time.Millisecond)
			first.kill(t)
			stop.Store(true)
			wg.Wait()
			t.Logf("%d licenses acknowledged before the kill (%d sent)", len(acked), next.Load())

			second := startServe(t, bin, url, "", "--webhooks-allow-private")
			defer second.stop(t)
			var eventIDs []string
			withDB(t, url, func(ctx context.Context, db *ent.Client) {
				lics, err := db.IPLicense.Query().All(ctx)
				if err != nil {
					t.Fatal(err)
				}
				have := map[string]bool{}
				for _, l := range lics {
					have[l.ID] = true
				}
				for _, id := range acked {
					if !have[id] {
						t.Errorf("acknowledged license %s is gone", id)
					}
				}
				evs, err := db.Event.Query().Where(event.Type("license.added")).All(ctx)
				if err != nil {
					t.Fatal(err)
				}
				perLicense := map[string]int{}
				for _, ev := range evs {
					perLicense[ev.ObjectID]++
					if !have[ev.ObjectID] {
						t.Errorf("event %s names license %s, which does not exist", ev.ID, ev.ObjectID)
					}
					eventIDs = append(eventIDs, ev.ID)
				}
				for id := range have {
					if perLicense[id] != 1 {
						t.Errorf("license %s has %d license.added events", id, perLicense[id])
					}
				}
				ds, err := db.WebhookDelivery.Query().All(ctx)
				if err != nil {
					t.Fatal(err)
				}
				byEvent := map[string]int{}
				evSet := map[string]bool{}
				for _, id := range eventIDs {
					evSet[id] = true
				}
				for _, d := range ds {
					byEvent[d.EventID]++
					if !evSet[d.EventID] || d.JobID == nil {
						t.Errorf("delivery %s: event %s (exists: %v), job %v", d.ID, d.EventID, evSet[d.EventID], d.JobID)
					}
				}
				for _, id := range eventIDs {
					if byEvent[id] != 1 {
						t.Errorf("event %s has %d deliveries", id, byEvent[id])
					}
				}
				t.Logf("%d licenses, %d events, %d deliveries in the database", len(lics), len(evs), len(ds))
			})
			deadline := time.Now().Add(150 * time.Second)
			for {
				mu.Lock()
				missing := 0
				for _, id := range eventIDs {
					if delivered[id] == 0 {
						missing++
					}
				}
				mu.Unlock()
				if missing == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d events never delivered after the restart", missing, len(eventIDs))
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}
