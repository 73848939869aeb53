package checkin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// h5Post sends a GraphQL request without calling t (it runs in its own
// goroutine) and returns the status and body.
func h5Post(e *apitest.Env, token, query string, vars map[string]any) (int, string) {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// h5WaitLocked waits until n of the database's backends wait for a lock.
func h5WaitLocked(t *testing.T, e *apitest.Env, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := e.DB.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends wait for a lock, want %d", waiting, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A reseller removing two licenses while their hosts check in: the removal
// locks its licenses in ID order (as every multi-license lock does), a
// check-in batch in its plan's order, so the two can deadlock and
// PostgreSQL ends one of them. A batch is then written again; the removal
// takes its locks again from a savepoint (store.LockRetrying) instead of
// failing INTERNAL (it did, 4 of 4 runs, before).
//
// The cycle is made certain: license A (oldest, so the smallest ID) is at
// .73, B at .71, C at .72. A transaction holds C; the batch (.71, .72, .73
// together) locks B and waits for C; the removal of A and B locks A and
// waits for B; C is released, and the batch, going on in address order,
// waits for A.
func TestHostile5CheckInBatchAndRemovalLockLicensesInOneOrder(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.MaxDelay = 300 * time.Millisecond }))
	r := e.Register("alice")
	idA := e.AddLicense(r.Token, "93.184.216.73", "KERNELCARE", "")
	idB := e.AddLicense(r.Token, "93.184.216.71", "KERNELCARE", "")
	e.AddLicense(r.Token, "93.184.216.72", "KERNELCARE", "")
	if idA >= idB {
		t.Fatalf("IDs %s, %s: the first license added has the smaller ID", idA, idB)
	}

	tx, err := e.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM ip_licenses WHERE ip = '93.184.216.72' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	answers := make([]h5CheckIn, 3)
	for i, ip := range []string{"93.184.216.71", "93.184.216.72", "93.184.216.73"} {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = h5Send(e, 0, ip, "racing-removal") }()
	}
	h5WaitLocked(t, e, 1) // the batch, on C

	type answer struct {
		status int
		body   string
	}
	removed := make(chan answer, 1)
	go func() {
		status, body := h5Post(e, r.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`,
			map[string]any{"ids": []string{idA, idB}})
		removed <- answer{status, body}
	}()
	h5WaitLocked(t, e, 2) // the removal, on B
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	var got answer
	select {
	case got = <-removed:
	case <-time.After(20 * time.Second):
		t.Fatal("removeIPLicenses did not answer")
	}
	wg.Wait()
	var out struct {
		Data struct {
			RemoveIPLicenses *struct{ RemovedIDs []string }
		}
		Errors []apitest.Error
	}
	if err := json.Unmarshal([]byte(got.body), &out); err != nil {
		t.Fatalf("%d %s", got.status, got.body)
	}
	if len(out.Errors) > 0 || out.Data.RemoveIPLicenses == nil || len(out.Data.RemoveIPLicenses.RemovedIDs) != 2 {
		t.Errorf("removeIPLicenses racing a check-in batch answered %d: %s", got.status, got.body)
	}
	for _, c := range answers {
		if c.status != http.StatusOK || c.code != "" {
			t.Errorf("check-in of %s answered %d: %s", c.ip, c.status, c.raw)
		}
	}
	var deadlocks int64
	_ = e.DB.SQL.QueryRow(`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&deadlocks)
	t.Logf("deadlocks seen by PostgreSQL: %d", deadlocks)
}
