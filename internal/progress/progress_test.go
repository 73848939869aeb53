package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A meter prints at most once a second, with an ETA from the average so
// far, and nothing at all for work that ends within the first second.
func TestMeterPrintsOnceASecondWithAnETA(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return at }
	var out bytes.Buffer
	m := newMeter(&out, "billed 2026-10", "resellers", 1000, now)
	for done := 1; done <= 1000; done++ {
		at = at.Add(25 * time.Millisecond) // 40 resellers a second
		m.Update(done)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 25 {
		t.Fatalf("%d lines in 25 s, want 25:\n%s", len(lines), out.String())
	}
	if want := "billed 2026-10: 40/1000 resellers, 1.0 s, ETA 24 s"; lines[0] != want {
		t.Fatalf("first line %q, want %q", lines[0], want)
	}
	if want := "billed 2026-10: 1000/1000 resellers, 25 s"; lines[24] != want {
		t.Fatalf("last line %q, want %q", lines[24], want)
	}

	out.Reset()
	quick := newMeter(&out, "billed", "resellers", 10, now)
	for done := 1; done <= 10; done++ {
		at = at.Add(time.Millisecond)
		quick.Update(done)
	}
	if out.Len() != 0 {
		t.Fatalf("a job of 10 ms printed progress: %q", out.String())
	}
	var none *Meter
	none.Update(1) // a nil meter is silent
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Millisecond:    "0.4 s",
		3100 * time.Millisecond:   "3.1 s",
		22 * time.Second:          "22 s",
		185 * time.Second:         "3 min 05 s",
		59600 * time.Millisecond:  "1 min 00 s",
		2*time.Hour + time.Second: "120 min 01 s",
	} {
		if got := Seconds(d); got != want {
			t.Errorf("Seconds(%s) = %q, want %q", d, got, want)
		}
	}
}
