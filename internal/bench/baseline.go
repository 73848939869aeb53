package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"clnd/internal/autopay"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// BaselinePath is where the hand-written statements answer, on clnd's own
// mux: GET /bench/sql/W1?first=50 with the same bearer token as /graphql.
const BaselinePath = "/bench/sql/"

// baseline serves each workload's hand-written statement: one query whose
// json result is the response's "data", written as it comes.
type baseline struct {
	db         *sql.DB
	staleAfter time.Duration
	workloads  map[string]Workload
	// prepared holds each workload's statement, prepared once: clnd keeps
	// its compiled statements prepared, so the floor does too (planning was
	// most of PostgreSQL's work for W3).
	mu       sync.Mutex
	prepared map[string]*sql.Stmt
}

func newBaseline(db *sql.DB, staleAfter time.Duration) *baseline {
	b := &baseline{db: db, staleAfter: staleAfter, workloads: map[string]Workload{}, prepared: map[string]*sql.Stmt{}}
	for _, w := range Workloads {
		b.workloads[w.Name] = w
	}
	return b
}

func (b *baseline) stmt(ctx context.Context, wl Workload) (*sql.Stmt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.prepared[wl.Name]; ok {
		return s, nil
	}
	s, err := b.db.PrepareContext(ctx, wl.SQL)
	if err != nil {
		return nil, err
	}
	b.prepared[wl.Name] = s
	return s, nil
}

func (b *baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wl, ok := b.workloads[r.PathValue("workload")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	var tenant *string
	switch v := viewer.FromContext(r.Context()); v.Role {
	case viewer.Reseller:
		tenant = &v.ResellerID
	case viewer.Operator:
	default:
		http.Error(w, `{"errors":[{"message":"the baseline answers a reseller's or an operator's token","extensions":{"code":"UNAUTHENTICATED"}}]}`, http.StatusUnauthorized)
		return
	}
	first, err := strconv.Atoi(r.URL.Query().Get("first"))
	if err != nil || first < 0 || first > 100 {
		http.Error(w, `{"errors":[{"message":"first is 0 to 100","extensions":{"code":"BAD_USER_INPUT"}}]}`, http.StatusBadRequest)
		return
	}
	p := baselineParams{
		resellerID:   tenant,
		first:        first,
		minimumRepay: autopay.MinimumRepay.String(),
		now:          clock.Now(r.Context()).Format(time.RFC3339Nano),
		staleAfter:   fmt.Sprintf("%d microseconds", b.staleAfter.Microseconds()),
	}
	var data []byte
	stmt, err := b.stmt(r.Context(), wl)
	if err == nil {
		err = stmt.QueryRowContext(r.Context(), wl.args(p)...).Scan(&data)
	}
	if err != nil {
		// Only the benchmark mounts this route: the driver's text helps more
		// than it could leak.
		msg, _ := json.Marshal("baseline query failed: " + err.Error())
		http.Error(w, `{"errors":[{"message":`+string(msg)+`,"extensions":{"code":"INTERNAL"}}]}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"data":`))
	_, _ = w.Write(data)
	_, _ = w.Write([]byte(`}`))
}
