package server

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"clnd/internal/apperr"
	"clnd/internal/clnapi"
	"clnd/internal/invoicepdf"
)

// deadlineGrace is how long after a request's deadline it is answered
// without its handler: enough for a handler whose statements did end with
// the deadline to answer itself.
const deadlineGrace = time.Second

// deadlineMessage answers a request that ran out of time. A mutation's
// transaction is rolled back unless its COMMIT was what went unanswered,
// and a mutation that manages its own writes (a payment) may have made
// some: a client that retries a mutation sends its idempotency key again.
const deadlineMessage = "the request did not finish in time (the database did not answer): retry later; " +
	"a mutation may have been done, so retry it with the same idempotency key"

// withDeadline bounds a request that is not a stream, its authentication
// included: GraphQL over HTTP (websockets and server-sent events live as
// long as their client wants), the CLN API and invoice PDFs; the lean
// check-in endpoint has its own bound. Its context ends after
// Config.RequestTimeout, which ends its statements, on a frozen database
// too (store's expiring connections); what fails then is answered
// UNAVAILABLE by the handler (presentError, the CLN API's failure, the
// PDF's 503). Should the handler still not have answered deadlineGrace
// later (it waits for something else), the request is answered 503
// UNAVAILABLE without it, in its endpoint's format, and the handler's
// writes are then dropped.
func (s *Server) withDeadline(next http.Handler) http.Handler {
	timeout := s.cfg.RequestTimeout
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := deadlineBody(r)
		if body == nil {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		d := &deadlineWriter{w: w, header: make(http.Header), body: body}
		watchdog := time.AfterFunc(timeout+deadlineGrace, d.giveUp)
		defer d.finish(watchdog)
		next.ServeHTTP(d, r.WithContext(ctx))
	})
}

// deadlineBody is the watchdog's answer to a request that withDeadline
// bounds, in its endpoint's format; nil for one it does not bound.
func deadlineBody(r *http.Request) []byte {
	path := r.URL.Path
	switch {
	case path == "/graphql":
		if r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			return nil
		}
		return errorBody(apperr.New(apperr.Unavailable, deadlineMessage))
	case strings.HasPrefix(path, clnapi.Prefix):
		return clnapi.FailureBody(apperr.Unavailable, deadlineMessage)
	case strings.HasPrefix(path, invoicepdf.PathPrefix):
		return errorBody(apperr.New(apperr.Unavailable, deadlineMessage))
	}
	return nil
}

// deadlineWriter is the handler's ResponseWriter: what the handler writes
// goes through to the client unless the watchdog answered first. The
// handler sets headers on a map of its own, copied when it writes, so that
// the watchdog never shares a map with it.
type deadlineWriter struct {
	w      http.ResponseWriter
	header http.Header
	body   []byte // the watchdog's answer

	mu      sync.Mutex
	started bool // the handler has written
	gaveUp  bool // the watchdog has answered
	done    bool // the handler has returned
}

func (d *deadlineWriter) Header() http.Header { return d.header }

// Unwrap lets http.ResponseController reach the connection.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.w }

func (d *deadlineWriter) WriteHeader(status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.start() {
		d.w.WriteHeader(status)
	}
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.start() {
		return 0, http.ErrHandlerTimeout
	}
	return d.w.Write(p)
}

// start notes the handler's first write and copies its headers; false when
// the watchdog has answered instead. d.mu is held.
func (d *deadlineWriter) start() bool {
	if d.gaveUp {
		return false
	}
	if !d.started {
		d.started = true
		maps.Copy(d.w.Header(), d.header)
	}
	return true
}

// giveUp answers 503 UNAVAILABLE unless the handler has written or returned.
func (d *deadlineWriter) giveUp() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.done {
		return
	}
	d.gaveUp = true
	// The handler still holds the request, so the answer must be whole
	// now: its length says where it ends, and the connection is not kept
	// for another request (it is busy until the handler returns).
	body := d.body
	h := d.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	h.Set("Connection", "close")
	d.w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = d.w.Write(body)
	_ = http.NewResponseController(d.w).Flush() // through wrappers (the debug log's recorder)
}

// finish stops the watchdog once the handler has returned, waiting for it
// if it is answering: the ResponseWriter is not used after this returns.
func (d *deadlineWriter) finish(watchdog *time.Timer) {
	watchdog.Stop()
	d.mu.Lock()
	d.done = true
	d.mu.Unlock()
}
