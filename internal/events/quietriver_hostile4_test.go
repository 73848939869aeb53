package events

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// River logs a worker's panic as one message ("panic recovery; possible bug
// with Worker") whatever the panic: two different bugs, in two jobs of
// different kinds, are two lines, not one line and a count, even within
// riverRepeatEvery. The same panic again is held back like any repeat.
func TestHostileDistinctRiverPanicsAreEachLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newQuietRiver(slog.NewTextHandler(&buf, nil)))
	at := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	panicked := func(d time.Duration, jobID int64, kind, val string) {
		rec := slog.NewRecord(at.Add(d), slog.LevelError, "jobexecutor.JobExecutor: panic recovery; possible bug with Worker", 0)
		rec.AddAttrs(slog.Int64("job_id", jobID), slog.String("kind", kind), slog.String("panic_val", val))
		_ = log.Handler().Handle(context.Background(), rec)
	}
	panicked(0, 1, "deliver_event", "runtime error: invalid memory address or nil pointer dereference")
	panicked(time.Second, 2, "deliver_event", "runtime error: index out of range [3] with length 3")
	panicked(2*time.Second, 3, "other_kind", "runtime error: invalid memory address or nil pointer dereference")
	panicked(3*time.Second, 4, "deliver_event", "runtime error: invalid memory address or nil pointer dereference")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (three distinct panics; the fourth repeats the first):\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"job_id=1", "job_id=2", "job_id=3"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d is not the panic of %s: %s", i, want, lines[i])
		}
	}
}

// Many goroutines log River lines at once (River's services each log from
// their own): no race (go test -race), every distinct message passes once,
// and the table stays bounded however many distinct messages come.
func TestHostileQuietRiverUnderConcurrencyStaysBounded(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	h := slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil)
	q := newQuietRiver(h)
	log := slog.New(q)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			child := log.With("goroutine", g)
			for i := range 2000 {
				child.Error(fmt.Sprintf("message %d", i%600))
			}
		}()
	}
	wg.Wait()
	q.repeats.mu.Lock()
	n := len(q.repeats.last)
	q.repeats.mu.Unlock()
	if n > 256 {
		t.Errorf("%d messages remembered, want at most 256", n)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
