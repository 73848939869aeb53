package events_test

import (
	"fmt"
	"slices"
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/events"
)

// TestHostileEventListsPageBothWays: events, webhookEndpoints and
// webhookDeliveries walked forward and backward in pages of 7 give the same
// rows in the same order, with and without filters, for a reseller and for
// an operator filtering by that reseller; and a reseller naming another
// reseller sees nothing of it.
func TestHostileEventListsPageBothWays(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a, b := e.Register("pagera"), e.Register("pagerb")
		for i := 0; i < 5; i++ {
			create(t, e, a.Token, fmt.Sprintf("https://example.com/a%d", i), events.LicenseAdded, events.LicenseRemoved)
		}
		create(t, e, b.Token, "https://example.com/b", "*")
		for i := 0; i < 9; i++ {
			id := e.AddLicense(a.Token, fmt.Sprintf("203.0.113.%d", 10+i), "CLOUDLINUX_OS", "")
			e.AddLicense(b.Token, fmt.Sprintf("198.51.100.%d", 10+i), "CLOUDLINUX_OS", "")
			if i%3 == 0 {
				e.Query(a.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`, map[string]any{"ids": []string{id}}, nil)
			}
		}
		type list struct {
			name, query string
			vars        map[string]any
			token       string
			want        int
		}
		page := `totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }`
		evq := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: EventFilter) { events(first: $first, after: $after, last: $last, before: $before, where: $where) { ` + page + ` } }`
		epq := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor) { webhookEndpoints(first: $first, after: $after, last: $last, before: $before) { ` + page + ` } }`
		dq := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: WebhookDeliveryFilter) { webhookDeliveries(first: $first, after: $after, last: $last, before: $before, where: $where) { ` + page + ` } }`
		lists := []list{
			{"a's events", evq, nil, a.Token, -1},
			{"a's license.removed", evq, map[string]any{"where": map[string]any{"types": []string{"license.removed"}}}, a.Token, 3},
			{"operator: a's events", evq, map[string]any{"where": map[string]any{"resellerID": a.ID}}, e.OperatorToken, -1},
			{"a naming b", evq, map[string]any{"where": map[string]any{"resellerID": b.ID}}, a.Token, 0},
			{"a's endpoints", epq, nil, a.Token, 5},
			{"a's deliveries", dq, nil, a.Token, -1},
			{"operator: a's deliveries", dq, map[string]any{"where": map[string]any{"resellerID": a.ID}}, e.OperatorToken, -1},
			{"a's failed", dq, map[string]any{"where": map[string]any{"status": "PENDING"}}, a.Token, -1},
		}
		var aEvents, opAEvents, aDeliveries, opADeliveries []string
		for _, l := range lists {
			path := []string{"events"}
			switch l.query {
			case epq:
				path = []string{"webhookEndpoints"}
			case dq:
				path = []string{"webhookDeliveries"}
			}
			fwd := e.Walk(l.token, l.query, l.vars, path, 7, false)
			bwd := e.Walk(l.token, l.query, l.vars, path, 7, true)
			if !slices.Equal(fwd, bwd) {
				t.Fatalf("%s: forward %v\nbackward %v", l.name, fwd, bwd)
			}
			if l.want >= 0 && len(fwd) != l.want {
				t.Fatalf("%s: %d rows, want %d", l.name, len(fwd), l.want)
			}
			switch l.name {
			case "a's events":
				aEvents = fwd
			case "operator: a's events":
				opAEvents = fwd
			case "a's deliveries":
				aDeliveries = fwd
			case "operator: a's deliveries":
				opADeliveries = fwd
			}
		}
		if len(aEvents) == 0 || !slices.Equal(aEvents, opAEvents) {
			t.Fatalf("a's events %v, the operator's view of them %v", aEvents, opAEvents)
		}
		if len(aDeliveries) == 0 || !slices.Equal(aDeliveries, opADeliveries) {
			t.Fatalf("a's deliveries %d, the operator's view of them %d", len(aDeliveries), len(opADeliveries))
		}
	})
}
