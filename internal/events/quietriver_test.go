package events

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// While the database is down River logs the same error several times a
// second: one line per message per riverRepeatEvery passes, the next one
// says how many were left out, and other messages are not held back.
func TestRiverRepeatsAreLoggedOncePerSpell(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newQuietRiver(slog.NewTextHandler(&buf, nil))).With("component", "river")
	at := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	logAt := func(level slog.Level, msg string, d time.Duration) {
		rec := slog.NewRecord(at.Add(d), level, msg, 0)
		_ = log.Handler().Handle(context.Background(), rec)
	}
	for i := range 60 { // 4 a second for 15 s
		logAt(slog.LevelError, "producer: error fetching jobs", time.Duration(i)*250*time.Millisecond)
	}
	logAt(slog.LevelWarn, "elector: error attempting to elect", time.Second)
	logAt(slog.LevelInfo, "client started", time.Second) // chatter: debug, not shown
	logAt(slog.LevelError, "producer: error fetching jobs", 31*time.Second)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (the first error, the warning, the error after the spell):\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "repeats_not_logged") || !strings.Contains(lines[0], "component=river") {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "elector") {
		t.Errorf("another message was held back: %s", lines[1])
	}
	if !strings.Contains(lines[2], "repeats_not_logged=59") {
		t.Errorf("the line after the spell does not count the 59 left out: %s", lines[2])
	}
}
