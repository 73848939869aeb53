package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"clnd/internal/billing"
	"clnd/internal/progress"
)

// resellerMeter shows a billing run's progress on w once a second
// ("billing 2026-10: 120/1000 resellers, 3.1 s, ETA 22 s").
func resellerMeter(w io.Writer, p billing.Period) billing.Progress {
	m := progress.New(w, "billing "+p.String(), "resellers", 0)
	return func(done, total int) {
		m.Total = total
		m.Update(done)
	}
}

// notEnded is the error for a month that cannot be billed yet, saying which
// clock decided and, in sandbox mode, how to move it.
func notEnded(p billing.Period, now time.Time, sandbox bool) error {
	if sandbox {
		return fmt.Errorf("--period %s has not ended: it ends %s, and the sandbox clock stands at %s (move it with the operator's advanceClock mutation)",
			p, p.End.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return fmt.Errorf("--period %s has not ended: it ends %s (now %s)", p, p.End.Format(time.RFC3339), now.Format(time.RFC3339))
}

// stderrLog is the log of a command run by hand: failures' causes, on stderr.
func stderrLog(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, nil))
}
