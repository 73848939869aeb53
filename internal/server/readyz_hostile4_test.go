package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
)

// TestHostileReadyzWhileFrozen: a readiness probe must answer within its
// own bound (2 s) whatever the database does. Frozen (SIGSTOP: connections
// open, nothing answered), PostgreSQL held /readyz's ping on a pooled
// connection for as long as it stayed frozen, so an orchestrator saw probe
// timeouts rather than "not ready", and each probe took another pooled
// connection with it. Repeated probes answer 503 in time, and once the
// database answers again /readyz says ok.
func TestHostileReadyzWhileFrozen(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow())
	get := func() (int, string, time.Duration) {
		start := time.Now()
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(e.Server.URL + "/readyz")
		if err != nil {
			return 0, err.Error(), time.Since(start)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	if status, body, _ := get(); status != http.StatusOK {
		t.Fatalf("/readyz before the freeze: %d %s", status, body)
	}
	pg.Freeze()
	for i := range 5 {
		status, body, took := get()
		if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: ") || took > 5*time.Second {
			t.Fatalf("/readyz %d while frozen: %d %q after %v, want 503 \"not ready: ...\" within its 2 s", i+1, status, body, took.Round(time.Millisecond))
		}
		t.Logf("/readyz %d while frozen: %q in %v", i+1, strings.TrimSpace(body), took.Round(time.Millisecond))
	}
	pg.Thaw()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body, _ := get()
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 30 s after the thaw: %d %s", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
