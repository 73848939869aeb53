package checkin

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// A check-in that passes the stop check just before Close and reaches the
// queue after the last drain is answered ErrStopped as soon as the flusher
// has stopped, not left in the queue until its request ends (and then
// ErrNotConfirmed five seconds later). The service is put in that moment's
// state: not yet stopping as CheckIn sees it, its flusher already gone.
func TestCheckInQueuedAfterTheLastDrainIsStopped(t *testing.T) {
	// An answer timeout as New sets one: a zero timer would race the stop.
	s := &Service{queue: make(chan *pending, 1), stop: make(chan struct{}), done: make(chan struct{}),
		opts: Options{AnswerTimeout: DefaultAnswerTimeout}}
	close(s.done)
	answered := make(chan error, 1)
	go func() {
		_, err := s.CheckIn(context.Background(), Request{Addr: netip.MustParseAddr("203.0.113.1"), Hostname: "a.example", At: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)})
		answered <- err
	}()
	select {
	case err := <-answered:
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("answered %v, want ErrStopped", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the check-in is still waiting for a flusher that has stopped")
	}
}
