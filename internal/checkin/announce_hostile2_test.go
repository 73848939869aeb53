package checkin

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"clnd/internal/live"
	"clnd/internal/store"
)

// Batches waiting for the announcer go out together; some are NOTIFYed and
// some not (another instance's last subscriber left, or a new one came, in
// between). This instance's subscribers still receive every event of every
// batch, once, in order, whatever the slices' spare capacity: the events of
// the NOTIFYed batches must not be written over the others' (review repro:
// notify shared the first batch's array with events, and appending to it
// replaced a batch that was not NOTIFYed by the next one that was).
func TestHostile2AnnouncerKeepsEveryBatchWhenNotifyVaries(t *testing.T) {
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "clnd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hub := live.NewHub()
	sub := hub.Subscribe(live.Filter{})
	s := &Service{db: db, hub: hub, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		written: make(chan written, 8), announced: make(chan struct{})}
	event := func(host string) live.Event { return live.Event{ResellerID: "r1", IP: "203.0.113.1", Hostname: host} }
	// As record builds them: appended, so with room to spare.
	first := append(make([]live.Event, 0, 8), event("a1"), event("a2"))
	s.written <- written{events: first, notify: true}
	s.written <- written{events: []live.Event{event("b1")}, notify: false}
	s.written <- written{events: []live.Event{event("c1")}, notify: true}
	close(s.written)
	s.announceWritten() // SQLite cannot NOTIFY: logged, and published all the same

	var got []string
	for len(got) < 4 {
		select {
		case e := <-sub.Events():
			got = append(got, e.Hostname)
		default:
			t.Fatalf("published %v, want [a1 a2 b1 c1]", got)
		}
	}
	if want := []string{"a1", "a2", "b1", "c1"}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}
