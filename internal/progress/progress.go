// Package progress tells the person running a long command (clnd bill,
// clnd seed --bench) how far it has got and when it should end: one line at
// most once a second, like "billed 2026-10: 120/1000 resellers, 3.1 s, ETA 22 s".
package progress

import (
	"fmt"
	"io"
	"time"

	"clnd/internal/clock"
)

// Meter prints the progress of one count towards a total. A nil Meter, or
// one writing to nil, prints nothing, so callers need not check.
type Meter struct {
	w     io.Writer
	What  string // "billed 2026-10"; may change between updates
	unit  string // "resellers"
	Total int    // may change between updates too, when it is learnt late
	every time.Duration
	now   func() time.Time
	began time.Time
	shown time.Time
}

// Every is how often a Meter prints at most.
const Every = time.Second

// New starts a meter of total units. Its first line comes a second after
// New: a command that ends sooner prints no progress at all.
func New(w io.Writer, what, unit string, total int) *Meter {
	return newMeter(w, what, unit, total, clock.Wall)
}

func newMeter(w io.Writer, what, unit string, total int, now func() time.Time) *Meter {
	t := now()
	return &Meter{w: w, What: what, unit: unit, Total: total, every: Every, now: now, began: t, shown: t}
}

// Update says done of the total units are finished; it prints if a second
// has passed since the last line. The ETA assumes the remaining units take
// as long as the finished ones did on average.
func (m *Meter) Update(done int) {
	if m == nil || m.w == nil {
		return
	}
	t := m.now()
	if t.Sub(m.shown) < m.every {
		return
	}
	m.shown = t
	fmt.Fprintln(m.w, m.line(done, t))
}

func (m *Meter) line(done int, t time.Time) string {
	elapsed := t.Sub(m.began)
	s := fmt.Sprintf("%s: %d/%d %s, %s", m.What, done, m.Total, m.unit, Seconds(elapsed))
	if done > 0 && done < m.Total {
		left := time.Duration(float64(elapsed) / float64(done) * float64(m.Total-done))
		s += ", ETA " + Seconds(left)
	}
	return s
}

// Seconds writes a duration for people: "0.4 s", "3.1 s", "22 s", "3 min 05 s".
func Seconds(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return fmt.Sprintf("%d min %02d s", int(d/time.Minute), int(d%time.Minute/time.Second))
}
