package checkin_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/checkin"
	"clnd/internal/live"
	"clnd/internal/server"
)

// Closing the check-in service while hosts check in as fast as they can
// (more hosts than a batch holds, so that check-ins are queued when it
// closes) and goroutines
// that never block keep both cores busy: every check-in is answered, at once,
// either recorded (then its row holds it and subscribers received its event,
// once) or ErrStopped (then nothing of it is written or published); none
// waits for its request to end, none is answered twice (a second close of
// its channel would panic).
func TestHostile2CloseUnderLoadAnswersEveryCheckInOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		const hosts = 48
		r := e.Register("alice")
		ips := make([]string, hosts)
		for i := range ips {
			ips[i] = fmt.Sprintf("203.0.113.%d", i+1)
			e.AddLicense(r.Token, ips[i], "KERNELCARE", "")
		}
		hub := e.Instance.Hub()
		sub := hub.Subscribe(live.Filter{ResellerID: r.ID})
		published := map[string]int{}
		reading := make(chan struct{})
		go func() {
			defer close(reading)
			for ev := range sub.Events() {
				published[ev.Hostname]++
			}
		}()

		// A busy goroutine per core: the flusher competes with them. (The
		// flusher once yielded before each batch under load, 7db6dde; with
		// twice as many busy goroutines each yield waited their time slices,
		// a batch every 45 ms instead of every 1.3 ms, and it was reverted.)
		stopHogs := make(chan struct{})
		var hogs sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			hogs.Add(1)
			go func() {
				defer hogs.Done()
				for n := 0; ; n++ {
					if n%1024 == 0 {
						select {
						case <-stopHogs:
							return
						default:
						}
					}
				}
			}()
		}
		defer func() { close(stopHogs); hogs.Wait() }()

		svc := e.Instance.CheckIns()
		base := time.Now().UTC().Truncate(time.Second)
		type outcome struct {
			lastRecorded time.Time // the newest check-in answered as recorded
			recorded     []string  // their hostnames
			stopped      int
			slowest      time.Duration
			err          error // anything but recorded or ErrStopped
		}
		outcomes := make([]outcome, hosts)
		var total atomic.Int64
		var wg sync.WaitGroup
		for h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := &outcomes[h]
				for seq := 0; ; seq++ {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					at := base.Add(time.Duration(seq) * time.Millisecond)
					host := fmt.Sprintf("h%d-%d", h, seq)
					began := time.Now()
					res, err := svc.CheckIn(ctx, checkin.Request{Addr: netip.MustParseAddr(ips[h]), Hostname: host, At: at})
					cancel()
					o.slowest = max(o.slowest, time.Since(began))
					total.Add(1)
					switch {
					case errors.Is(err, checkin.ErrStopped):
						o.stopped++
						return // the service stays stopped
					case err != nil:
						o.err = err
						return
					case len(res.Licensed) != 1 || !res.At.Equal(at):
						o.err = fmt.Errorf("answered %+v for a check-in at %v", res, at)
						return
					}
					o.lastRecorded = at
					o.recorded = append(o.recorded, host)
				}
			}()
		}
		for total.Load() < 20*hosts {
			time.Sleep(time.Millisecond)
		}
		svc.Close()
		wg.Wait()
		hub.Unsubscribe(sub)
		<-reading

		last := lastCheckIns(t, e, r.Token)
		recorded := 0
		for h, o := range outcomes {
			if o.err != nil {
				t.Fatalf("host %d: %v", h, o.err)
			}
			if o.slowest > 2*time.Second {
				t.Errorf("host %d: a check-in was answered after %v", h, o.slowest)
			}
			got := last[ips[h]+" KERNELCARE"]
			switch {
			case len(o.recorded) == 0:
				if got.LastCheckIn != nil {
					t.Errorf("host %d: nothing recorded, yet lastCheckIn %v", h, got.LastCheckIn)
				}
			case got.LastCheckIn == nil || !got.LastCheckIn.Equal(o.lastRecorded) || got.Hostname != o.recorded[len(o.recorded)-1]:
				t.Errorf("host %d: lastCheckIn %v %q, want its last recorded check-in %v %q (stopped %d)",
					h, got.LastCheckIn, got.Hostname, o.lastRecorded, o.recorded[len(o.recorded)-1], o.stopped)
			}
			for _, host := range o.recorded {
				if published[host] != 1 {
					t.Errorf("check-in %s recorded, published %d times", host, published[host])
				}
				delete(published, host)
			}
			recorded += len(o.recorded)
		}
		for host, n := range published {
			t.Errorf("check-in %s published %d times, never answered as recorded", host, n)
		}
		batches, checkIns := svc.Stats()
		t.Logf("%d check-ins recorded, %d answered in all, in %d batches (%d check-ins)", recorded, total.Load(), batches, checkIns)
	}, apitest.WithoutShadow(), apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.MaxBatch = 8 }))
}
