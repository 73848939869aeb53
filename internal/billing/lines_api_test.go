package billing_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// An invoice line counts its own unit: licenses for IP licenses and for
// server-account limits, GB for backups. A full month reads quantity ×
// unitPrice = subtotal; a thing billed for part of the month counts as one
// on its line, and its item carries the proration.
func TestInvoiceLinesCountTheirUnit(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		a.Token = e.APIToken(a.Token, "READ_WRITE")
		e.Query(e.OperatorToken, `mutation { setProductPrice(input: {type: KERNELCARE, monthlyPrice: "3.45"}) { product { id } } }`, nil, nil)
		e.Query(e.OperatorToken, `mutation { setBackupPricePerGB(input: {pricePerGB: "0.12"}) { backupPricePerGB } }`, nil, nil)
		advance(t, e, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		os1 := e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		e.AddLicense(a.Token, "203.0.113.11", "KERNELCARE", "")
		e.AddLicense(a.Token, "203.0.113.12", "KERNELCARE", "")
		e.AddLicense(a.Token, "203.0.113.13", "KERNELCARE", "")
		for _, b := range []struct {
			license string
			gb      int
		}{{os1, 10}, {e.AddLicense(a.Token, "203.0.113.14", "IMUNIFYAV_PLUS", ""), 36}} {
			e.Query(a.Token, `mutation($id: ID!, $gb: Int!) { activateBackup(input: {licenseID: $id, sizeGB: $gb, datacenter: "us-east"}) { backup { id } } }`,
				map[string]any{"id": b.license, "gb": b.gb}, nil)
		}
		accounts := map[string]string{}
		for _, acct := range []struct {
			login string
			limit int
		}{{"acme", 2}, {"globex", 3}} {
			var created struct {
				CreateServerAccount struct{ ServerAccount struct{ ID string } }
			}
			e.Query(a.Token, `mutation($l: String!, $n: Int!) { createServerAccount(input: {login: $l, licenseLimit: $n}) { serverAccount { id } } }`,
				map[string]any{"l": acct.login, "n": acct.limit}, &created)
			accounts[acct.login] = created.CreateServerAccount.ServerAccount.ID
		}
		// 21 of December's 31 days: 21.00 of 31.00.
		advance(t, e, time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC))
		e.AddLicense(a.Token, "203.0.113.20", "CLOUDLINUX_OS", "")

		advance(t, e, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		var out struct{ RunBilling struct{ Invoices []invoice } }
		e.Query(e.OperatorToken, runBilling, map[string]any{"p": "2026-12"}, &out)
		if len(out.RunBilling.Invoices) != 1 {
			t.Fatalf("invoices %+v", out.RunBilling.Invoices)
		}
		type want struct {
			quantity            int
			unitPrice, subtotal string
			items               []string // amounts
		}
		wants := map[string]want{
			"CloudLinux OS": {2, "31.00", "52.00", []string{"31.00", "21.00"}},
			"KernelCare":    {3, "3.45", "10.35", []string{"3.45", "3.45", "3.45"}},
			"CloudLinux OS (server account licenses)": {5, "31.00", "155.00", []string{"62.00", "93.00"}},
			"Backup storage (per GB-month)":           {46, "0.12", "5.52", []string{"1.20", "4.32"}},
		}
		seen := 0
		for _, l := range out.RunBilling.Invoices[0].Lines {
			w, ok := wants[l.Title]
			if !ok {
				continue
			}
			seen++
			var amounts []string
			for _, it := range l.Items {
				amounts = append(amounts, it.Amount)
			}
			if l.Quantity != w.quantity || l.UnitPrice != w.unitPrice || l.Subtotal != w.subtotal || len(amounts) != len(w.items) {
				t.Errorf("line %q: %d × %s = %s, items %v; want %d × %s = %s, items %v",
					l.Title, l.Quantity, l.UnitPrice, l.Subtotal, amounts, w.quantity, w.unitPrice, w.subtotal, w.items)
				continue
			}
			for i := range amounts {
				if amounts[i] != w.items[i] {
					t.Errorf("line %q: items %v, want %v", l.Title, amounts, w.items)
					break
				}
			}
		}
		if seen != len(wants) {
			t.Fatalf("lines %+v", out.RunBilling.Invoices[0].Lines)
		}

		// January: globex's limit goes from 3 to 5 on the 11th (10 days at 3,
		// 21 at 5) and acme (2) is removed on the 21st (20 days). Each counts
		// with its largest quantity: 5 + 2 = 7 licenses at 31.00, of which
		// the items bill 30.00 + 105.00 + 40.00 = 175.00.
		advance(t, e, time.Date(2027, 1, 11, 0, 0, 0, 0, time.UTC))
		e.Query(a.Token, `mutation($id: ID!) { updateServerAccount(id: $id, input: {licenseLimit: 5}) { serverAccount { id } } }`,
			map[string]any{"id": accounts["globex"]}, nil)
		advance(t, e, time.Date(2027, 1, 21, 0, 0, 0, 0, time.UTC))
		e.Query(a.Token, `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": accounts["acme"]}, nil)
		advance(t, e, time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC))
		e.Query(e.OperatorToken, runBilling, map[string]any{"p": "2027-01"}, &out)
		var found bool
		for _, l := range out.RunBilling.Invoices[0].Lines {
			if l.Title != "CloudLinux OS (server account licenses)" {
				continue
			}
			found = true
			var amounts []string
			for _, it := range l.Items {
				amounts = append(amounts, it.Amount)
			}
			sort.Strings(amounts)
			if l.Quantity != 7 || l.UnitPrice != "31.00" || l.Subtotal != "175.00" || strings.Join(amounts, " ") != "105.00 30.00 40.00" {
				t.Errorf("January's account line: %d × %s = %s, items %v", l.Quantity, l.UnitPrice, l.Subtotal, amounts)
			}
		}
		if !found {
			t.Fatalf("January's lines %+v", out.RunBilling.Invoices)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true }))
}
