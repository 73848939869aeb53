package live

import (
	"database/sql"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"clnd/internal/pgtest"
)

// REPRO (fails; CLND_HOSTILE_REPRO=1): Publish waits for Presence. A
// subscriber that falls behind is removed inside Publish (Unsubscribe),
// and its removal (onUnsubscribe) takes Presence.mu, which watch and Run
// hold across their database writes (watch up to 2 s, Run's without any
// timeout). Publish runs in the check-in announcer: once 64 written
// batches wait behind it, the flusher stops and check-ins stall.
func TestHostileReproPublishWaitsForPresence(t *testing.T) {
	if os.Getenv("CLND_HOSTILE_REPRO") != "1" {
		t.Skip("reproduces an open defect; run with CLND_HOSTILE_REPRO=1")
	}
	db, err := sql.Open("postgres", pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE "live_instances" ("origin" character varying NOT NULL, "until" timestamptz NOT NULL, PRIMARY KEY ("origin"))`); err != nil {
		t.Fatal(err)
	}
	hub := NewHub()
	p := NewPresence(db, "ins_a", hub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	slow := hub.Subscribe(Filter{}) // listed; never reads
	_ = slow
	// The next subscription writes the row again, as it does once Run has
	// unlisted the instance or the row has aged past fresh.
	p.mu.Lock()
	p.fresh = time.Time{}
	p.mu.Unlock()

	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE live_instances IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	go hub.Subscribe(Filter{}) // waits on the lock, holding Presence.mu
	time.Sleep(200 * time.Millisecond)

	events := make([]Event, SubscriberBuffer+1) // one more than slow's buffer
	start := time.Now()
	hub.Publish(events)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("Publish took %v: it waited for a database write of Presence", took.Round(time.Millisecond))
	}
}
