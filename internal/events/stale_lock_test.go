package events_test

import (
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/events"
)

// Review 2 finding 6: a license someone holds FOR KEY SHARE (any insert of a
// row referencing it) is still stale and must be claimed.
func TestStaleClaimIgnoresKeyShare(t *testing.T) {
	e := apitest.New(t, "postgres")
	a := e.Register("zz-stale")
	lic := e.AddLicense(a.Token, "198.51.100.70", "CLOUDLINUX_OS", "")
	if r := e.CheckInFrom("198.51.100.70", ""); len(r.Errors) > 0 {
		t.Fatalf("check-in: %s", r.Raw)
	}
	e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-10-01T03:00:00Z") { now } }`, nil, nil)
	tx, err := e.DB.SQL.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT id FROM ip_licenses WHERE id = $1 FOR KEY SHARE`, lic); err != nil {
		t.Fatal(err)
	}
	n, err := events.SweepStale(e.Ctx(), e.DB.Client, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("a stale license held FOR KEY SHARE: %d license.stale written, want 1", n)
	}
}
