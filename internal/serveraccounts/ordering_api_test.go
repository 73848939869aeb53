package serveraccounts_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"clnd/internal/apitest"
)

const pageFields = `totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }`

// ServerAccount.servers ordered by LAST_CHECK_IN, with servers that never
// checked in, walks every server once in the documented order (NULL first
// ascending, last descending, ties by id), both ways, on both databases.
// ServerAccount.keys come back in the order they were created, eager-loaded
// under serverAccounts and loaded lazily under node(id:), even after
// registrations rewrote the keys' rows (which moves them on PostgreSQL).
func TestServersByLastCheckInAndKeysInCreationOrder(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		acct := createAccount(t, e, r.Token, "acme", 10)
		advance := func(to time.Time) {
			e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`, map[string]any{"to": to}, nil)
		}
		k1, t1 := key(t, e, r.Token, acct.ID)
		advance(apitest.Start.Add(time.Minute))
		k2, t2 := key(t, e, r.Token, acct.ID)
		k3, t3 := key(t, e, r.Token, acct.ID) // same instant as k2: ties go by id
		creds := map[string]string{}
		for i, tok := range []string{t2, t3, t1, t2, t1, t3, t1, t1} {
			res := registerServer(e, tok, fmt.Sprintf("host%d.example", i))
			var out struct {
				RegisterServer struct {
					Credential string
					Server     struct{ ID string }
				}
			}
			if err := jsonData(res, &out); err != nil || len(res.Errors) > 0 {
				t.Fatalf("registering: %v %s", err, res.Raw)
			}
			creds[out.RegisterServer.Server.ID] = out.RegisterServer.Credential
		}
		ids := make([]string, 0, len(creds))
		for id := range creds {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		at := apitest.Start.Add(time.Minute)
		for _, group := range [][]string{{ids[5], ids[0]}, {ids[3]}} {
			at = at.Add(time.Hour)
			advance(at)
			for _, id := range group {
				res := e.Do(apitest.Request{Query: apitest.CheckInMutation, Variables: map[string]any{"cred": creds[id]}})
				if len(res.Errors) > 0 {
					t.Fatalf("check-in: %s", res.Raw)
				}
			}
		}
		// ids[5] and ids[0] tie at the first check-in; ids[3] is last; the
		// other five never checked in.
		asc := []string{ids[1], ids[2], ids[4], ids[6], ids[7], ids[0], ids[5], ids[3]}

		query := `query($id: ID!, $first: Int, $after: Cursor, $last: Int, $before: Cursor, $dir: OrderDirection!) {
			node(id: $id) { ... on ServerAccount { servers(first: $first, after: $after, last: $last, before: $before,
				orderBy: {field: LAST_CHECK_IN, direction: $dir}) {` + pageFields + `} } } }`
		for _, dir := range []string{"ASC", "DESC"} {
			want := slices.Clone(asc)
			if dir == "DESC" {
				slices.Reverse(want)
			}
			for _, size := range []int{1, 3, 100} {
				for _, backward := range []bool{false, true} {
					got := e.Walk(r.Token, query, map[string]any{"id": acct.ID, "dir": dir}, []string{"node", "servers"}, size, backward)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s, pages of %d, backward %v:\n got %v\nwant %v", dir, size, backward, got, want)
					}
				}
			}
		}

		wantKeys := []string{k1, k2, k3}
		var lazy struct {
			Node struct{ Keys []struct{ ID string } }
		}
		e.Query(r.Token, `query($id: ID!) { node(id: $id) { ... on ServerAccount { keys { id } } } }`, map[string]any{"id": acct.ID}, &lazy)
		var eager struct {
			ServerAccounts struct {
				Edges []struct {
					Node struct{ Keys []struct{ ID string } }
				}
			}
		}
		e.Query(r.Token, `{ serverAccounts(first: 10) { edges { node { keys { id } } } } }`, nil, &eager)
		if len(eager.ServerAccounts.Edges) != 1 {
			t.Fatalf("%d accounts", len(eager.ServerAccounts.Edges))
		}
		for name, keys := range map[string][]struct{ ID string }{"lazy": lazy.Node.Keys, "eager": eager.ServerAccounts.Edges[0].Node.Keys} {
			got := make([]string, len(keys))
			for i, k := range keys {
				got[i] = k.ID
			}
			if !reflect.DeepEqual(got, wantKeys) {
				t.Errorf("%s keys %v, want %v", name, got, wantKeys)
			}
		}
	})
}
