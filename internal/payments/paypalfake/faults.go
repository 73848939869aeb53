package paypalfake

import (
	"fmt"
	"io"
	"net/http"
)

// faults are what a test asked the next calls to suffer.
type faults struct {
	failNext    int // calls answered failStatus without being processed
	failStatus  int
	lose        int  // calls processed whose answer never arrives
	declineNext bool // next capture: 422 INSTRUMENT_DECLINED
	denyNext    bool // next capture: created with status DECLINED
	pendNext    bool // next capture: created with status PENDING
}

// FailNext makes the next n API calls answer status (500, 503, 429, ...)
// with PayPal's error body, without doing anything.
func (f *Fake) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.failNext, f.faults.failStatus = n, status
}

// LoseResponses makes the next n API calls do their work and then never
// answer: the connection stays silent until the client gives up (its
// timeout or context). That is the timeout after which the caller cannot
// know whether money moved.
func (f *Fake) LoseResponses(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.lose = n
}

// DeclineNext makes the next capture fail with 422 INSTRUMENT_DECLINED
// (the payer's funding source was refused); the order stays APPROVED and
// nothing is captured.
func (f *Fake) DeclineNext() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.declineNext = true
}

// DenyNextCapture makes the next capture succeed as a call but create a
// capture with status DECLINED, the other way PayPal reports a refusal.
// The order is then COMPLETED with no money taken.
func (f *Fake) DenyNextCapture() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.denyNext = true
}

// PendNextCapture makes the next capture PENDING (PayPal holding it for
// review): no money yet; CompletePending settles it.
func (f *Fake) PendNextCapture() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults.pendNext = true
}

// CompletePending settles a PENDING capture as COMPLETED, as PayPal does
// before sending PAYMENT.CAPTURE.COMPLETED.
func (f *Fake) CompletePending(captureID string) error {
	f.mu.Lock()
	c, ok := f.captures[captureID]
	if !ok || c.Status != capturePending {
		f.mu.Unlock()
		return fmt.Errorf("paypalfake: no pending capture %q", captureID)
	}
	c.Status = captureCompleted
	events := f.raiseLocked("PAYMENT.CAPTURE.COMPLETED", f.captureResource(c))
	f.mu.Unlock()
	f.deliver(events)
	return nil
}

// handler is one API operation, run with f.mu held.
type handler func(r *http.Request, body []byte) answer

// api wraps an operation with what every API call goes through: the bearer
// token, injected faults and, for POSTs that take one, PayPal-Request-Id
// idempotency. Only 2xx answers are remembered, so a refused request can
// be made again with the same ID once its cause is gone.
func (f *Fake) api(h handler, idempotent bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(r) {
			apiError(http.StatusUnauthorized, "AUTHENTICATION_FAILURE", "", "").write(w)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}

		f.mu.Lock()
		f.apiCalls++
		if f.faults.failNext > 0 {
			f.faults.failNext--
			status := f.faults.failStatus
			f.mu.Unlock()
			name := map[int]string{429: "RATE_LIMIT_REACHED", 503: "SERVICE_UNAVAILABLE"}[status]
			if name == "" {
				name = "INTERNAL_SERVER_ERROR"
			}
			apiError(status, name, "", "").write(w)
			return
		}
		lose := f.faults.lose > 0
		if lose {
			f.faults.lose--
		}
		requestID := ""
		if idempotent {
			requestID = r.Header.Get("PayPal-Request-Id")
		}
		key := r.Pattern + " " + r.PathValue("id") + " " + requestID
		prev, seen := f.idempotent[key]
		var ans answer
		switch {
		case requestID != "" && seen:
			// PayPal answers a repeated request ID with 200 and the first result.
			ans = answer{status: http.StatusOK, body: prev.body}
		default:
			ans = h(r, body)
			if requestID != "" && ans.status/100 == 2 {
				f.idempotent[key] = answer{status: ans.status, body: ans.body}
			}
		}
		f.mu.Unlock()
		f.deliver(ans.events)

		if lose {
			select {
			case <-r.Context().Done():
			case <-f.done:
			}
			panic(http.ErrAbortHandler) // drop the connection without an answer
		}
		ans.write(w)
	}
}
