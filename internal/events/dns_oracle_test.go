package events_test

import (
	"testing"
	"time"

	"clnd/ent/webhookdelivery"
	"clnd/internal/apitest"
	"clnd/internal/events"
	"clnd/internal/viewer"
)

// Review 2 finding 8: a reseller must not learn from delivery errors which
// host names resolve (to non-public addresses) and which do not.
func TestDeliveryErrorsDoNotMapNames(t *testing.T) {
	e := apitest.New(t, "sqlite")
	r := e.Register("zz-dns")
	internal := create(t, e, r.Token, "http://localhost/hook", events.LicenseAdded)
	missing := create(t, e, r.Token, "http://no-such-host.invalid./hook", events.LicenseAdded)
	e.AddLicense(r.Token, "203.0.113.60", "CLOUDLINUX_OS", "")
	sys := viewer.SystemContext(e.Ctx())
	errOf := func(ep string) string {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			ds, _ := e.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(ep), webhookdelivery.AttemptsGTE(1)).All(sys)
			if len(ds) > 0 {
				return ds[0].Error
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no attempt for %s", ep)
		return ""
	}
	a, b := errOf(internal.ID), errOf(missing.ID)
	t.Logf("internal %q / missing %q", a, b)
	if a != b {
		t.Fatalf("an internal name and a missing one read differently:\n%q\n%q", a, b)
	}
}
