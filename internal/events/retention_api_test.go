package events_test

import (
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/events"
)

// TestPruneKeepsWhatIsOwed: events past the retention go with their finished
// deliveries; one a delivery is still PENDING for stays until it ends, and
// recent ones stay.
func TestPruneKeepsWhatIsOwed(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		ok := newReceiver(t, nil)
		failing := newReceiver(t, func(int) int { return 500 })
		r := e.Register("pruned")
		create(t, e, r.Token, ok.URL(), events.LicenseAdded)
		create(t, e, r.Token, failing.URL(), events.LicenseRemoved)
		lic := e.AddLicense(r.Token, "203.0.113.80", "CLOUDLINUX_OS", "")
		ok.wait(1)
		e.Query(r.Token, `mutation($id: ID!) { removeIPLicenses(ids: [$id]) { removedIDs } }`, map[string]any{"id": lic}, nil)
		failing.wait(1)
		reader, writer := e.APIToken(r.Token, "READ"), e.APIToken(r.Token, "READ_WRITE") // sessions expire in 90 days
		// Past the retention, not past the pending delivery's next retry
		// (the clock kick would attempt it again).
		advance(t, e, e.Clock.Now().Add(events.DefaultRetention+time.Hour))
		recent := e.AddLicense(writer, "203.0.113.81", "CLOUDLINUX_OS", "")
		ok.wait(2)
		n, err := events.Prune(e.Ctx(), e.DB.Client, events.DefaultRetention) // the registration's events too
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Events struct {
				Edges []struct {
					Node struct{ Type, ObjectID string }
				}
			}
		}
		// (Months were billed meanwhile: only the license events matter here.)
		e.Query(reader, `{ events(first: 100, where: {types: ["license.added", "license.removed"]}) { edges { node { type objectID } } } }`, nil, &out)
		kept := map[string]bool{}
		for _, ed := range out.Events.Edges {
			kept[ed.Node.Type+" "+ed.Node.ObjectID] = true
		}
		if n < 1 || len(kept) != 2 || !kept["license.removed "+lic] || !kept["license.added "+recent] {
			t.Fatalf("pruned %d; kept %v", n, kept)
		}
		var ds struct {
			WebhookDeliveries struct {
				Edges []struct{ Node struct{ Status string } }
			}
		}
		e.Query(reader, `{ webhookDeliveries(first: 100) { edges { node { status } } } }`, nil, &ds) // both endpoints want license events only
		if len(ds.WebhookDeliveries.Edges) != 2 {
			t.Fatalf("deliveries left %+v, want the pending one and the recent one", ds)
		}
		// Keeping forever prunes nothing.
		if n, err := events.Prune(e.Ctx(), e.DB.Client, -1); err != nil || n != 0 {
			t.Fatalf("retention -1: %d, %v", n, err)
		}
	}, allowPrivate)
}
