package billing_test

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

type idList []struct{ ID string }

func (l idList) ids() []string {
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = x.ID
	}
	return out
}

// Invoice.lines come back by (position, id) and InvoiceLine.items by id (the
// order billing wrote them), both when entgql eager-loads them under a
// connection and when they load lazily under node(id:), even after their
// rows were rewritten (which moves a row on PostgreSQL). runBilling returns
// its invoices by number.
func TestInvoiceLinesAndItemsKeepTheirOrder(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		a.Token = e.APIToken(a.Token, "READ_WRITE")
		b := e.Register("bob")
		b.Token = e.APIToken(b.Token, "READ_WRITE")
		advance(t, e, time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC))
		for i, typ := range []string{"KERNELCARE", "CLOUDLINUX_OS", "KERNELCARE", "IMUNIFY360_SINGLE_USER", "CLOUDLINUX_OS", "KERNELCARE"} {
			e.AddLicense(a.Token, fmt.Sprintf("203.0.113.%d", 10+i), typ, "")
		}
		e.AddLicense(b.Token, "198.51.100.10", "CLOUDLINUX_OS", "")
		advance(t, e, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		var run struct {
			RunBilling struct{ Invoices []struct{ ID, Number string } }
		}
		e.Query(e.OperatorToken, `mutation { runBilling(period: "2026-10") { invoices { id number } } }`, nil, &run)
		invs := run.RunBilling.Invoices
		if len(invs) != 2 || !sort.SliceIsSorted(invs, func(i, j int) bool { return invs[i].Number < invs[j].Number }) {
			t.Fatalf("runBilling invoices %+v, want two by number", invs)
		}

		// The order as written, straight from the tables.
		ids := func(query string, args ...any) []string {
			rows, err := e.DB.SQL.Query(query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				out = append(out, id)
			}
			return out
		}
		arg := "?"
		if e.Backend == "postgres" {
			arg = "$1"
		}
		var aliceInvoice string
		for _, x := range invs {
			var owner string
			if err := e.DB.SQL.QueryRow(`SELECT reseller_id FROM invoices WHERE id = `+arg, x.ID).Scan(&owner); err != nil {
				t.Fatal(err)
			}
			if owner == a.ID {
				aliceInvoice = x.ID
			}
		}
		wantLines := ids(`SELECT id FROM invoice_lines WHERE invoice_id = `+arg+` ORDER BY position, id`, aliceInvoice)
		if len(wantLines) != 3 {
			t.Fatalf("%d lines, want 3", len(wantLines))
		}
		wantItems := map[string][]string{}
		for _, l := range wantLines {
			wantItems[l] = ids(`SELECT id FROM invoice_items WHERE line_id = `+arg+` ORDER BY id`, l)
		}
		// Rewrite the first line and the first item of every line, as a
		// later update would; PostgreSQL then stores them after the others.
		if _, err := e.DB.SQL.Exec(`UPDATE invoice_lines SET title = title WHERE id = `+arg, wantLines[0]); err != nil {
			t.Fatal(err)
		}
		for _, items := range wantItems {
			if _, err := e.DB.SQL.Exec(`UPDATE invoice_items SET description = description WHERE id = `+arg, items[0]); err != nil {
				t.Fatal(err)
			}
		}

		type line struct {
			ID    string
			Items idList
		}
		check := func(name string, lines []line) {
			t.Helper()
			got := make([]string, len(lines))
			for i, l := range lines {
				got[i] = l.ID
				if !reflect.DeepEqual(l.Items.ids(), wantItems[l.ID]) {
					t.Errorf("%s: items of line %s %v, want %v", name, l.ID, l.Items.ids(), wantItems[l.ID])
				}
			}
			if !reflect.DeepEqual(got, wantLines) {
				t.Errorf("%s: lines %v, want %v", name, got, wantLines)
			}
		}
		var lazy struct{ Node struct{ Lines []line } }
		e.Query(a.Token, `query($id: ID!) { node(id: $id) { ... on Invoice { lines { id items { id } } } } }`, map[string]any{"id": aliceInvoice}, &lazy)
		check("node", lazy.Node.Lines)
		var eager struct {
			Invoices struct {
				Edges []struct{ Node struct{ Lines []line } }
			}
		}
		e.Query(a.Token, `{ invoices(first: 10, where: {type: INVOICE}) { edges { node { lines { id items { id } } } } } }`, nil, &eager)
		if len(eager.Invoices.Edges) != 1 {
			t.Fatalf("%d invoices", len(eager.Invoices.Edges))
		}
		check("invoices", eager.Invoices.Edges[0].Node.Lines)
	}, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true }))
}
