package licensing_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"clnd/ent"
	"clnd/internal/apitest"
)

const pageFields = `totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }`

type checkedIn struct {
	ID          string
	LastCheckIn *time.Time
}

// lastCheckInOrder is docs/schema.md's rule: NULL before every value, ties
// by id; DESC is the exact reverse.
func lastCheckInOrder(rows []checkedIn, desc bool) []string {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		switch {
		case a.LastCheckIn == nil && b.LastCheckIn == nil:
			return a.ID < b.ID
		case a.LastCheckIn == nil || b.LastCheckIn == nil:
			return a.LastCheckIn == nil
		case !a.LastCheckIn.Equal(*b.LastCheckIn):
			return a.LastCheckIn.Before(*b.LastCheckIn)
		}
		return a.ID < b.ID
	})
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	if desc {
		slices.Reverse(ids)
	}
	return ids
}

// Paging by LAST_CHECK_IN with never-checked-in licenses present walks every
// license exactly once, in the documented order, both ways, at the root and
// under Reseller.ipLicenses, on both databases.
func TestPagingByLastCheckInSeesEveryLicenseOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		b := e.Register("bob")
		for i := 1; i <= 11; i++ {
			e.AddLicense(a.Token, fmt.Sprintf("203.0.113.%d", i), "CLOUDLINUX_OS", "")
		}
		e.AddLicense(b.Token, "198.51.100.1", "CLOUDLINUX_OS", "")
		e.AddLicense(b.Token, "198.51.100.2", "KERNELCARE", "")
		// Three check in at one instant (a tie), then one, then two more;
		// the other seven of alice's and both of bob's never check in.
		at := apitest.Start
		for _, group := range [][]int{{3, 1, 2}, {7}, {5, 9}} {
			at = at.Add(time.Hour)
			e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`, map[string]any{"to": at}, nil)
			for _, i := range group {
				if r := e.CheckInFrom(fmt.Sprintf("203.0.113.%d", i), ""); len(r.Errors) > 0 {
					t.Fatalf("check-in: %s", r.Raw)
				}
			}
		}

		var all struct {
			IPLicenses struct{ Edges []struct{ Node checkedIn } }
		}
		e.Query(e.OperatorToken, `{ ipLicenses(first: 100) { edges { node { id lastCheckIn } } } }`, nil, &all)
		var rows, alices []checkedIn
		for _, edge := range all.IPLicenses.Edges {
			rows = append(rows, edge.Node)
		}
		if len(rows) != 13 {
			t.Fatalf("%d licenses, want 13", len(rows))
		}
		var aliceIDs struct {
			IPLicenses struct{ Edges []struct{ Node checkedIn } }
		}
		e.Query(a.Token, `{ ipLicenses(first: 100) { edges { node { id lastCheckIn } } } }`, nil, &aliceIDs)
		for _, edge := range aliceIDs.IPLicenses.Edges {
			alices = append(alices, edge.Node)
		}

		root := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $dir: OrderDirection!) {
			ipLicenses(first: $first, after: $after, last: $last, before: $before, orderBy: {field: LAST_CHECK_IN, direction: $dir}) {` + pageFields + `} }`
		nested := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $dir: OrderDirection!) {
			viewer { reseller { ipLicenses(first: $first, after: $after, last: $last, before: $before, orderBy: {field: LAST_CHECK_IN, direction: $dir}) {` + pageFields + `} } } }`
		for _, walk := range []struct {
			name, token, query string
			path               []string
			rows               []checkedIn
		}{
			{"operator", e.OperatorToken, root, []string{"ipLicenses"}, rows},
			{"reseller", a.Token, root, []string{"ipLicenses"}, alices},
			{"nested", a.Token, nested, []string{"viewer", "reseller", "ipLicenses"}, alices},
		} {
			for _, dir := range []string{"ASC", "DESC"} {
				want := lastCheckInOrder(walk.rows, dir == "DESC")
				for _, size := range []int{1, 4, 100} {
					for _, backward := range []bool{false, true} {
						got := e.Walk(walk.token, walk.query, map[string]any{"dir": dir}, walk.path, size, backward)
						if !reflect.DeepEqual(got, want) {
							t.Errorf("%s %s, pages of %d, backward %v:\n got %v\nwant %v", walk.name, dir, size, backward, got, want)
						}
					}
				}
			}
		}

		// after and before select the rows after and before the cursor's row
		// whether the page is taken with first or last.
		want := lastCheckInOrder(alices, false)
		var c struct {
			IPLicenses struct{ Edges []struct{ Cursor string } }
		}
		e.Query(a.Token, `{ ipLicenses(first: 100, orderBy: {field: LAST_CHECK_IN}) { edges { cursor } } }`, nil, &c)
		for _, k := range []int{1, 4, 5, 8} { // NULL rows (4 is the last), checked-in rows (5 is the first)
			cursor := c.IPLicenses.Edges[k].Cursor
			for args, w := range map[string][]string{
				`first: 2, before: $c`: want[:min(2, k)],
				`last: 2, before: $c`:  want[max(0, k-2):k],
				`first: 2, after: $c`:  want[k+1 : k+3],
				`last: 2, after: $c`:   want[len(want)-2:],
			} {
				var out struct {
					IPLicenses struct {
						Edges []struct{ Node struct{ ID string } }
					}
				}
				e.Query(a.Token, `query($c: Cursor) { ipLicenses(`+args+`, orderBy: {field: LAST_CHECK_IN}) { edges { node { id } } } }`,
					map[string]any{"c": cursor}, &out)
				var got []string
				for _, edge := range out.IPLicenses.Edges {
					got = append(got, edge.Node.ID)
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("ipLicenses(%s) around row %d: got %v, want %v", args, k, got, w)
				}
			}
		}

		// Cursors: a NULL row's is msgpack {"i": id} with no "v"; a checked-in
		// row's is entgql's {"i": id, "v": time}.
		var page struct {
			IPLicenses struct {
				Edges []struct {
					Cursor string
					Node   checkedIn
				}
			}
		}
		e.Query(a.Token, `{ ipLicenses(first: 100, orderBy: {field: LAST_CHECK_IN, direction: DESC}) { edges { cursor node { id lastCheckIn } } } }`, nil, &page)
		for _, edge := range page.IPLicenses.Edges {
			want := cursorString(t, ent.Cursor{ID: edge.Node.ID})
			if edge.Node.LastCheckIn == nil {
				id := edge.Node.ID
				raw := append([]byte{0x81, 0xa1, 'i', 0xa0 | byte(len(id))}, id...)
				if want != base64.RawStdEncoding.EncodeToString(raw) {
					t.Fatalf("the expected NULL cursor is not msgpack {i: id}")
				}
			} else {
				want = cursorString(t, ent.Cursor{ID: edge.Node.ID, Value: *edge.Node.LastCheckIn})
			}
			if edge.Cursor != want {
				t.Errorf("cursor of %s (lastCheckIn %v) is %s, want %s", edge.Node.ID, edge.Node.LastCheckIn, edge.Cursor, want)
			}
		}

		// A cursor of another ordering is refused, not misread.
		e.Expect("BAD_USER_INPUT", "after", a.Token, `query($c: Cursor) { ipLicenses(after: $c, orderBy: {field: LAST_CHECK_IN}) { totalCount } }`,
			map[string]any{"c": cursorString(t, ent.Cursor{ID: page.IPLicenses.Edges[0].Node.ID, Value: "web.example"})})
	})
}

func cursorString(t *testing.T, c ent.Cursor) string {
	t.Helper()
	var b bytes.Buffer
	c.MarshalGQL(&b)
	return strings.Trim(b.String(), `"`)
}

// Strings order by their bytes (code point order, case-sensitive) on both
// databases, whatever the database's collation: PostgreSQL runs here on a
// database whose default collation is ICU's en-US, where "a" < "B" and
// "é" < "z".
func TestStringOrderIsBytewiseOnEveryDatabase(t *testing.T) {
	hostnames := []string{"b.example", "B.example", "a.example", "A.example", "é.example", "e.example",
		"E.example", "z.example", "Z.example", "ß.example", "Ω.example", "1.example", "_x.example", "a-b.example", "ab.example", "aB.example"}
	ips := []string{"203.0.113.9", "203.0.113.10", "203.0.113.100", "2001:db8::a", "2001:db8::1:0", "2001:db8::b", "198.51.100.1",
		"203.0.113.1", "2001:db8::", "198.51.100.20", "192.0.2.1", "192.0.2.11", "2001:db8:0:1::", "203.0.113.99", "198.51.100.3", "192.0.2.200"}
	orders := map[string][]string{}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		byID := map[string][2]string{}
		for i, h := range hostnames {
			id := e.AddLicense(a.Token, ips[i], "KERNELCARE", h)
			byID[id] = [2]string{h, ips[i]}
		}
		// A second license on one hostname: ties go by id.
		byID[e.AddLicense(a.Token, "203.0.113.250", "KERNELCARE", "B.example")] = [2]string{"B.example", "203.0.113.250"}
		query := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $field: IPLicenseOrderField!, $dir: OrderDirection!) {
			ipLicenses(first: $first, after: $after, last: $last, before: $before, orderBy: {field: $field, direction: $dir}) {` + pageFields + `} }`
		for field, key := range map[string]int{"HOSTNAME": 0, "IP": 1} {
			ids := make([]string, 0, len(byID))
			for id := range byID {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(i, j int) bool {
				a, b := byID[ids[i]][key], byID[ids[j]][key]
				if a != b {
					return a < b // Go compares strings by their bytes
				}
				return ids[i] < ids[j]
			})
			for _, dir := range []string{"ASC", "DESC"} {
				want := slices.Clone(ids)
				if dir == "DESC" {
					slices.Reverse(want)
				}
				for _, size := range []int{3, 100} {
					for _, backward := range []bool{false, true} {
						got := e.Walk(a.Token, query, map[string]any{"field": field, "dir": dir}, []string{"ipLicenses"}, size, backward)
						if !reflect.DeepEqual(got, want) {
							t.Errorf("%s %s, pages of %d, backward %v:\n got %v\nwant %v", field, dir, size, backward, values(byID, got, key), values(byID, want, key))
						}
					}
				}
			}
			values := values(byID, e.Walk(a.Token, query, map[string]any{"field": field, "dir": "ASC"}, []string{"ipLicenses"}, 100, false), key)
			orders[field] = append(orders[field], strings.Join(values, " "))
		}
	}, apitest.WithNaturalCollation())
	for field, got := range orders {
		if len(got) == 2 && got[0] != got[1] {
			t.Errorf("%s orders differ between the databases:\n%s\n%s", field, got[0], got[1])
		}
	}
}

func values(byID map[string][2]string, ids []string, key int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = byID[id][key]
	}
	return out
}
