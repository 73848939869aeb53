package live

import (
	"database/sql"
	"io"
	"log/slog"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"clnd/internal/pgtest"
)

// Publish never waits for Presence. A subscriber that falls behind is
// removed inside Publish (Unsubscribe), and its removal (onUnsubscribe)
// used to take Presence.mu, which watch and Run hold across their database
// writes; Publish runs in the check-in announcer, so once 64 written
// batches waited behind it the flusher stopped and check-ins stalled.
// (Review repro; it failed with Publish taking 1.81 s.)
func TestHostilePublishDoesNotWaitForPresence(t *testing.T) {
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
