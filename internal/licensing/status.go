// Package licensing holds the rules of IP licenses: addresses, statuses,
// search.
package licensing

import (
	"time"
)

// Status is what a dashboard shows for a license's check-ins.
type Status string

const (
	NeverCheckedIn Status = "NEVER_CHECKED_IN"
	Active         Status = "ACTIVE"
	Stale          Status = "STALE"
)

// DefaultStaleAfter is how long a license may go without a check-in before it is STALE.
const DefaultStaleAfter = 72 * time.Hour

// StatusAt says whether a license with this last check-in is active at now.
func StatusAt(lastCheckIn *time.Time, now time.Time, staleAfter time.Duration) Status {
	switch {
	case lastCheckIn == nil:
		return NeverCheckedIn
	case now.Sub(*lastCheckIn) > staleAfter:
		return Stale
	}
	return Active
}
