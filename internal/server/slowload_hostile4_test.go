package server_test

import (
	"encoding/json"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// TestHostileManySubscribersOnAHeldLoad: twenty subscribers of one tenant
// (each its own API token, so that each resolves license itself, over SSE
// and websockets), and five of another, watch check-ins while the batch's
// license load is held (a lock on products). Every subscriber of the
// check-in's tenant gets the event with license null and UNAVAILABLE, the
// other tenant's get nothing, no goroutine is left behind once the lock
// goes, and the next event is whole for everyone. Run under -race, the
// shared load meets its many readers at once.
func TestHostileManySubscribersOnAHeldLoad(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutShadow())
	owner := e.Register("held-load-owner")
	other := e.Register("held-load-other")
	e.AddLicense(owner.Token, "203.0.113.160", "KERNELCARE", "")
	e.AddLicense(other.Token, "203.0.113.161", "KERNELCARE", "")
	const query = `subscription { checkIns { hostname license { id reseller { id } } } }`
	var owners, others []*apitest.Sub
	for i := range 20 {
		token := e.APIToken(owner.Token, "READ")
		if i%2 == 0 {
			owners = append(owners, e.SubscribeSSE(token, query, nil))
		} else {
			owners = append(owners, e.Subscribe(token, query, nil))
		}
	}
	for range 5 {
		others = append(others, e.SubscribeSSE(e.APIToken(other.Token, "READ"), query, nil))
	}
	// The loads' goroutines (River starts its own meanwhile: count only
	// these).
	baseline := liveGoroutines()

	release := holdProducts(t, e)
	if r := e.LeanCheckInFrom("203.0.113.160", "held.example"); r.Status != http.StatusOK {
		t.Fatalf("check-in: %d %s", r.Status, r.Raw)
	}
	type event struct {
		Data struct {
			CheckIns struct {
				Hostname string
				License  *struct {
					ID       string
					Reseller struct{ ID string }
				}
			}
		}
		Errors []struct{ Extensions struct{ Code string } }
	}
	all := func(what string, check func(i int, ev event) string) {
		t.Helper()
		var wg sync.WaitGroup
		problems := make([]string, len(owners))
		for i, s := range owners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				raw, ok := s.Next(30 * time.Second)
				if !ok {
					problems[i] = "no event in 30 s"
					return
				}
				var ev event
				if err := json.Unmarshal(raw, &ev); err != nil {
					problems[i] = err.Error()
					return
				}
				problems[i] = check(i, ev)
			}()
		}
		wg.Wait()
		for i, p := range problems {
			if p != "" {
				t.Errorf("%s, subscriber %d: %s", what, i, p)
			}
		}
	}
	began := time.Now()
	all("the held event", func(i int, ev event) string {
		if ev.Data.CheckIns.Hostname != "held.example" || ev.Data.CheckIns.License != nil ||
			len(ev.Errors) != 1 || ev.Errors[0].Extensions.Code != "UNAVAILABLE" {
			return "got " + func() string { b, _ := json.Marshal(ev); return string(b) }() + ", want license null and UNAVAILABLE"
		}
		return ""
	})
	t.Logf("the held event reached all 20 subscribers in %v", time.Since(began).Round(time.Millisecond))
	release()

	if r := e.LeanCheckInFrom("203.0.113.160", "whole.example"); r.Status != http.StatusOK {
		t.Fatalf("check-in: %d %s", r.Status, r.Raw)
	}
	all("the next event", func(i int, ev event) string {
		l := ev.Data.CheckIns.License
		if ev.Data.CheckIns.Hostname != "whole.example" || l == nil || l.Reseller.ID != owner.ID || len(ev.Errors) != 0 {
			b, _ := json.Marshal(ev)
			return "got " + string(b) + ", want it whole and the owner's"
		}
		return ""
	})
	for i, s := range others {
		if raw, ok := s.Next(500 * time.Millisecond); ok {
			t.Errorf("the other tenant's subscriber %d received %s", i, raw)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for liveGoroutines() > baseline && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := liveGoroutines(); n > baseline {
		t.Errorf("%d goroutines in clnd/internal/live after both events, %d before", n, baseline)
	}
}

// liveGoroutines counts this process's goroutines running code of
// clnd/internal/live (a batch's row load among them).
func liveGoroutines() int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "clnd/internal/live.") {
			n++
		}
	}
	return n
}
