package billing_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// A run bills resellers in reseller ID order, so the same data always gets
// the same invoice numbers (and same-time transactions the same order), on
// PostgreSQL too, where an unordered DISTINCT answers in hash order. The
// resellers' activity is written in the reverse of their ID order, so that
// neither the table's physical order nor the order of the work done can
// pass for it.
func TestBillingNumbersInvoicesInResellerIDOrder(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		var tokens, ids []string
		for i := 0; i < 12; i++ {
			r := e.Register(fmt.Sprintf("order%02d", i))
			tokens = append(tokens, e.APIToken(r.Token, "READ_WRITE"))
			ids = append(ids, r.ID)
		}
		for i := len(tokens) - 1; i >= 0; i-- {
			e.AddLicense(tokens[i], fmt.Sprintf("203.0.113.%d", 10+i), "KERNELCARE", "")
		}
		advance(t, e, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		var out struct {
			RunBilling struct {
				Invoices []struct {
					Number   string
					Reseller struct{ ID string }
				}
			}
		}
		e.Query(e.OperatorToken, `mutation { runBilling(period: "2026-10") { invoices { number reseller { id } } } }`, nil, &out)
		invs := out.RunBilling.Invoices
		if len(invs) != len(ids) {
			t.Fatalf("%d invoices for %d resellers", len(invs), len(ids))
		}
		sort.Slice(invs, func(i, j int) bool { return invs[i].Number < invs[j].Number })
		sorted := append([]string(nil), ids...)
		sort.Strings(sorted)
		for i, inv := range invs {
			if inv.Reseller.ID != sorted[i] {
				var got []string
				for _, inv := range invs {
					got = append(got, inv.Reseller.ID)
				}
				t.Fatalf("invoices by number bill resellers\n%v\nwant them in ID order\n%v", got, sorted)
			}
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true }))
}
