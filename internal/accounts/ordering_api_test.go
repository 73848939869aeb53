package accounts_test

import (
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// Reseller.paymentMethods come back in the order they were added, loaded
// lazily (viewer) and eager-loaded under resellers, even after
// setDefaultPaymentMethod rewrote their rows (which moves a row on
// PostgreSQL).
func TestPaymentMethodsKeepTheOrderTheyWereAddedIn(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		want := []string{methods(t, e, a.Token)[0].ID}
		add := func(tok string) string {
			var added struct {
				AddPaymentMethod struct{ PaymentMethod method }
			}
			e.Query(a.Token, addMethod, map[string]any{"tok": tok}, &added)
			return added.AddPaymentMethod.PaymentMethod.ID
		}
		want = append(want, add("tok_mastercard"), add("tok_chargeDeclined"))
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`, map[string]any{"to": apitest.Start.Add(time.Hour)}, nil)
		want = append(want, add("tok_visa"))
		for _, id := range []string{want[1], want[0], want[3], want[0]} {
			e.Query(a.Token, `mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { paymentMethod { id } } }`, map[string]any{"id": id}, nil)
		}
		ids := func(ms []method) []string {
			out := make([]string, len(ms))
			for i, m := range ms {
				out[i] = m.ID
			}
			return out
		}
		if got := ids(methods(t, e, a.Token)); !reflect.DeepEqual(got, want) {
			t.Errorf("viewer's paymentMethods %v, want %v", got, want)
		}
		var eager struct {
			Resellers struct {
				Edges []struct {
					Node struct{ PaymentMethods []method }
				}
			}
		}
		e.Query(e.OperatorToken, `{ resellers(first: 10) { edges { node { paymentMethods { id } } } } }`, nil, &eager)
		if len(eager.Resellers.Edges) != 1 {
			t.Fatalf("%d resellers", len(eager.Resellers.Edges))
		}
		if got := ids(eager.Resellers.Edges[0].Node.PaymentMethods); !reflect.DeepEqual(got, want) {
			t.Errorf("resellers' paymentMethods %v, want %v", got, want)
		}
	})
}

// Resellers ordered by COMPANY compare companies by their bytes on both
// databases, PostgreSQL running on a database whose default collation is
// ICU's en-US ("a" < "B" and "É" < "z" there).
func TestResellersByCompanyCompareBytes(t *testing.T) {
	companies := []string{"b corp", "B Corp", "a corp", "A corp", "Ärzte GmbH", "Zeta", "zeta", "Éclair", "éclair", "10x", "_under", "B Corp"}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		company := map[string]string{}
		for i, c := range companies {
			in := apitest.RegistrationInput(string(rune('a'+i)) + "-reseller")
			in["company"] = c
			var out struct {
				RegisterReseller struct{ Reseller struct{ ID string } }
			}
			e.Query("", apitest.RegisterMutation, map[string]any{"input": in}, &out)
			company[out.RegisterReseller.Reseller.ID] = c
		}
		asc := make([]string, 0, len(company))
		for id := range company {
			asc = append(asc, id)
		}
		sort.Slice(asc, func(i, j int) bool {
			if a, b := company[asc[i]], company[asc[j]]; a != b {
				return a < b
			}
			return asc[i] < asc[j]
		})
		query := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $dir: OrderDirection!) {
			resellers(first: $first, after: $after, last: $last, before: $before, orderBy: {field: COMPANY, direction: $dir}) {
				totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } }`
		for _, dir := range []string{"ASC", "DESC"} {
			want := slices.Clone(asc)
			if dir == "DESC" {
				slices.Reverse(want)
			}
			for _, size := range []int{2, 100} {
				for _, backward := range []bool{false, true} {
					got := e.Walk(e.OperatorToken, query, map[string]any{"dir": dir}, []string{"resellers"}, size, backward)
					if !reflect.DeepEqual(got, want) {
						names := func(ids []string) []string {
							out := make([]string, len(ids))
							for i, id := range ids {
								out[i] = company[id]
							}
							return out
						}
						t.Errorf("%s, pages of %d, backward %v:\n got %q\nwant %q", dir, size, backward, names(got), names(want))
					}
				}
			}
		}
	}, apitest.WithNaturalCollation())
}
