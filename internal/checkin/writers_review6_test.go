package checkin_test

import (
	"bytes"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// parkedBatches counts the batches that wait, each in a goroutine of its
// own, for a batch sharing a row to be written.
func parkedBatches() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("clnd/internal/checkin.(*Service).run.func"))
}

// The batches waiting for a held one must be bounded: while a row stays
// locked by another transaction, an agent that checks in again and again
// (every check-in of its host waits for the held one) must not make the
// instance take and keep every one of them; the queue fills and further
// check-ins are refused without being queued (the answer says nothing of
// them is written). (f358dab, since replaced, took and kept every one.)
func TestReview6BatchesWaitingForAHeldOneAreBounded(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) {
			c.CheckInBatch.MaxBatch = 1 // a batch per check-in; the queue holds 4
			c.CheckInBatch.AnswerTimeout = time.Second
		}))
	a := e.Register("alice")
	const held = "93.184.216.61"
	e.AddLicense(a.Token, held, "KERNELCARE", "")
	release := holdRows(t, e, held)

	const checkIns = 200
	var wg sync.WaitGroup
	for i := range checkIns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c := e.LeanCheckInFrom(held, "again"); c.Status != http.StatusServiceUnavailable {
				t.Errorf("check-in %d of the held host answered %d: %s", i, c.Status, c.Raw)
			}
		}()
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	parked := parkedBatches()
	release()
	// The held batch and a bounded number waiting for it (64) may be
	// kept; not every check-in of the host.
	if parked > 70 {
		t.Fatalf("%d batches of %d check-ins, all answered 503, are kept waiting for the held row", parked, checkIns)
	}
}
