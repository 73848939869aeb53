package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"clnd/internal/apperr"
	"clnd/internal/store"
)

// retryAfter is what a 503 asks a client to wait before trying again: long
// enough for a database restart or failover to be under way, short enough
// that agents and dashboards recover on their own soon after it.
const retryAfter = 5 * time.Second

// markUnavailable gives a GraphQL answer over HTTP the status 503 and a
// Retry-After header when the database outage is all it says: every error
// is UNAVAILABLE and no field has a value. An answer with some data keeps
// its 200 (the client has something to show); the errors say the rest.
// Call it before anything is written.
func markUnavailable(w http.ResponseWriter, resp *graphql.Response) {
	if resp == nil || len(resp.Errors) == 0 {
		return
	}
	for _, e := range resp.Errors {
		if e.Extensions["code"] != string(apperr.Unavailable) {
			return
		}
	}
	if !noValue(resp.Data) {
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	w.WriteHeader(http.StatusServiceUnavailable)
}

// noValue reports whether data is null, empty, or an object whose every
// member is null.
func noValue(data json.RawMessage) bool {
	if len(data) == 0 || string(data) == "null" {
		return true
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return false
	}
	for _, v := range fields {
		if string(v) != "null" {
			return false
		}
	}
	return true
}

// writeUnavailable answers a request that failed on the database before
// GraphQL ran (authenticating its token, say).
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	writeError(w, http.StatusServiceUnavailable, apperr.New(apperr.Unavailable, unavailableMessage))
}

// readiness says why the database cannot serve requests now, or "" when
// it can: a ping through the pool, answered within timeout. The ping runs
// in its own goroutine, one at a time: a database that stopped answering
// without closing its connections (a frozen host) holds lib/pq's ping
// whatever its context says, and a probe must still answer "not ready" in
// time; later probes wait for the same ping rather than each holding
// another pooled connection.
func (s *Server) readiness(ctx context.Context, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := s.ping.start(s.db.SQL, timeout)
	select {
	case <-p.done:
	case <-ctx.Done():
		return "no database connection within " + timeout.String() + " (pool busy or database not answering)"
	}
	switch {
	case p.err == nil:
		return ""
	case errors.Is(p.err, context.DeadlineExceeded):
		// Waiting for a free connection (or for the server's answer) took
		// the whole ping.
		return "no database connection within " + timeout.String() + " (pool busy or database not answering)"
	}
	if reason := store.UnavailableReason(p.err); reason != "" {
		return reason
	}
	return "database ping failed"
}

// readinessPing is the ping in flight, if any.
type readinessPing struct {
	mu      sync.Mutex
	current *pingResult
}

type pingResult struct {
	done chan struct{} // closed once err is set
	err  error
}

// start returns the ping in flight, or starts one (bounded by timeout, as
// far as the driver lets it be).
func (r *readinessPing) start(db *sql.DB, timeout time.Duration) *pingResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.current; p != nil {
		select {
		case <-p.done: // finished: a probe gets a fresh answer
		default:
			return p
		}
	}
	p := &pingResult{done: make(chan struct{})}
	r.current = p
	go func() {
		defer close(p.done)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		p.err = db.PingContext(ctx)
	}()
	return p
}
