package billing_test

import (
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// historyItems reads every item of the reseller's invoices with the things
// they billed.
const historyItems = `{ invoices(first: 10) { edges { node { number lines { items { description amount
	license { id ip removedAt backup { id } }
	backup { id sizeGB removedAt license { id removedAt } }
	serverAccount { id login removedAt usedLicenses keys { id } } } } } } } }`

type historyInvoices struct {
	Invoices struct {
		Edges []struct {
			Node struct {
				Number string
				Lines  []struct {
					Items []historyItem
				}
			}
		}
	}
}

type historyItem struct {
	Description, Amount string
	License             *struct {
		ID, IP    string
		RemovedAt *time.Time
		Backup    *struct{ ID string }
	}
	Backup *struct {
		ID        string
		SizeGB    int
		RemovedAt *time.Time
		License   *struct {
			ID        string
			RemovedAt *time.Time
		}
	}
	ServerAccount *struct {
		ID, Login    string
		RemovedAt    *time.Time
		UsedLicenses int
		Keys         []struct{ ID string }
	}
}

func (h historyInvoices) items() []historyItem {
	var out []historyItem
	for _, e := range h.Invoices.Edges {
		for _, l := range e.Node.Lines {
			out = append(out, l.Items...)
		}
	}
	return out
}

// A license, its backup and a server account billed in October and removed
// in November: the October invoice's items still reach all three (marked
// removed), through the compiled read and the field-by-field one, through
// node(id:) and through runBilling's own payload; every list, summary and
// rule treats them as gone.
func TestOldInvoicesReachRemovedThings(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		a.Token = e.APIToken(a.Token, "READ_WRITE")
		lic := e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "web1")
		e.Query(a.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 10, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": lic}, nil)
		var acct struct {
			CreateServerAccount struct{ ServerAccount struct{ ID string } }
		}
		e.Query(a.Token, `mutation { createServerAccount(input: {login: "acme", licenseLimit: 2}) { serverAccount { id } } }`, nil, &acct)
		acctID := acct.CreateServerAccount.ServerAccount.ID
		var key struct {
			CreateActivationKey struct{ Key struct{ Token string } }
		}
		e.Query(a.Token, `mutation($id: ID!) { createActivationKey(serverAccountID: $id) { key { token } } }`, map[string]any{"id": acctID}, &key)
		var reg struct {
			RegisterServer struct{ Credential string }
		}
		e.Query("", `mutation($k: String!) { registerServer(input: {activationKey: $k, hostname: "n1", ip: "198.51.100.7"}) { credential } }`,
			map[string]any{"k": key.CreateActivationKey.Key.Token}, &reg)

		advance(t, e, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		e.Query(e.OperatorToken, runBilling, map[string]any{"p": "2026-10"}, nil)

		advance(t, e, time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
		e.Query(a.Token, `mutation($id: ID!) { removeIPLicenses(ids: [$id]) { removedIDs } }`, map[string]any{"id": lic}, nil)
		e.Query(a.Token, `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": acctID}, nil)
		removedAt := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)

		var h historyInvoices
		e.Query(a.Token, historyItems, nil, &h)
		var sawLicense, sawBackup, sawAccount bool
		var backupID string
		for _, it := range h.items() {
			switch {
			case it.License != nil:
				sawLicense = true
				if it.License.ID != lic || it.License.IP != "203.0.113.10" || it.License.RemovedAt == nil || !it.License.RemovedAt.Equal(removedAt) ||
					it.License.Backup != nil {
					t.Errorf("item %q: license %+v", it.Description, it.License)
				}
			case it.Backup != nil:
				sawBackup = true
				backupID = it.Backup.ID
				if it.Backup.SizeGB != 10 || it.Backup.RemovedAt == nil || !it.Backup.RemovedAt.Equal(removedAt) ||
					it.Backup.License == nil || it.Backup.License.ID != lic || it.Backup.License.RemovedAt == nil {
					t.Errorf("item %q: backup %+v", it.Description, it.Backup)
				}
			case it.ServerAccount != nil:
				sawAccount = true
				if it.ServerAccount.ID != acctID || it.ServerAccount.Login != "acme" || it.ServerAccount.RemovedAt == nil ||
					it.ServerAccount.UsedLicenses != 0 || len(it.ServerAccount.Keys) != 0 {
					t.Errorf("item %q: account %+v", it.Description, it.ServerAccount)
				}
			default:
				t.Errorf("item %q names nothing", it.Description)
			}
		}
		if !sawLicense || !sawBackup || !sawAccount {
			t.Fatalf("items reach license %v, backup %v, account %v: %+v", sawLicense, sawBackup, sawAccount, h)
		}

		// node(id:) finds each, removed.
		for _, id := range []string{lic, backupID, acctID} {
			var n struct {
				Node struct{ RemovedAt *time.Time }
			}
			e.Query(a.Token, `query($id: ID!) { node(id: $id) { ... on IPLicense { removedAt } ... on Backup { removedAt } ... on ServerAccount { removedAt } } }`,
				map[string]any{"id": id}, &n)
			if n.Node.RemovedAt == nil || !n.Node.RemovedAt.Equal(removedAt) {
				t.Errorf("node(%s): %+v", id, n.Node)
			}
			var ns struct {
				Nodes []*struct{ ID string }
			}
			e.Query(a.Token, `query($id: ID!) { nodes(ids: [$id]) { id } }`, map[string]any{"id": id}, &ns)
			if len(ns.Nodes) != 1 || ns.Nodes[0] == nil || ns.Nodes[0].ID != id {
				t.Errorf("nodes([%s]): %+v", id, ns.Nodes)
			}
		}
		// Another tenant still finds nothing.
		b := e.Register("bob")
		e.Expect("NOT_FOUND", "", b.Token, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": lic})

		// Gone from every list and total, and from the rules.
		var live struct {
			IPLicenses     struct{ TotalCount int }
			ServerAccounts struct{ TotalCount int }
			AccountSummary struct {
				TotalLicenses, IPLicenses int
				LicenseCostPerMonth       string
			}
			Viewer struct {
				Reseller struct {
					IPLicenses     struct{ TotalCount int }
					ServerAccounts struct{ TotalCount int }
				}
			}
		}
		const liveQuery = `{ ipLicenses(search: "203.0.113.10") { totalCount } serverAccounts(search: "acme") { totalCount }
			accountSummary { totalLicenses ipLicenses licenseCostPerMonth }
			viewer { reseller { ipLicenses { totalCount } serverAccounts { totalCount } } } }`
		e.Query(a.Token, liveQuery, nil, &live)
		if live.IPLicenses.TotalCount != 0 || live.ServerAccounts.TotalCount != 0 || live.AccountSummary.TotalLicenses != 0 ||
			live.AccountSummary.IPLicenses != 0 || live.AccountSummary.LicenseCostPerMonth != "0.00" ||
			live.Viewer.Reseller.IPLicenses.TotalCount != 0 || live.Viewer.Reseller.ServerAccounts.TotalCount != 0 {
			t.Fatalf("removed things still live: %+v", live)
		}
		var filtered struct {
			With    struct{ TotalCount int }
			Without struct{ TotalCount int }
		}
		e.Query(e.OperatorToken, `{
			with: resellers(where: {or: [{hasIPLicenses: true}, {hasServerAccounts: true},
				{hasIPLicensesWith: [{ip: "203.0.113.10"}]}, {hasServerAccountsWith: [{login: "acme"}]}]}) { totalCount }
			without: resellers(where: {login: "alice", hasIPLicenses: false, not: {hasServerAccounts: true}}) { totalCount } }`, nil, &filtered)
		if filtered.With.TotalCount != 0 || filtered.Without.TotalCount != 1 {
			t.Fatalf("reseller filters count removed things: %+v", filtered)
		}
		e.Expect("NOT_FOUND", "", a.Token, `mutation($id: ID!) { removeIPLicenses(ids: [$id]) { removedIDs } }`, map[string]any{"id": lic})
		e.Expect("NOT_FOUND", "", a.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 1, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": lic})
		var ci struct{ CheckIn struct{ Licensed []string } }
		e.Query("", `mutation { checkIn(input: {hostname: "web1"}) { licensed } }`, nil, &ci)
		if len(ci.CheckIn.Licensed) != 0 {
			t.Fatalf("a removed license still licenses its address: %+v", ci)
		}
		// The address and the login are free again.
		again := e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "web1")
		e.Query(a.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 5, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": again}, nil)
		e.Query(a.Token, `mutation { createServerAccount(input: {login: "acme", licenseLimit: 0}) { serverAccount { id } } }`, nil, nil)
		e.Query(a.Token, liveQuery, nil, &live)
		if live.IPLicenses.TotalCount != 1 || live.ServerAccounts.TotalCount != 1 || live.AccountSummary.LicenseCostPerMonth != "31.50" {
			t.Fatalf("after adding again: %+v", live)
		}
		// The old invoice still names the removed license, not the new one.
		e.Query(a.Token, historyItems, nil, &h)
		for _, it := range h.items() {
			if it.License != nil && it.License.ID != lic {
				t.Fatalf("the old item now names %s", it.License.ID)
			}
		}

		// November bills the removed things up to their removal, and
		// runBilling's payload (items read one by one, without field
		// collection) reaches them too.
		advance(t, e, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		var nov struct {
			RunBilling struct {
				Invoices []struct {
					Lines []struct{ Items []historyItem }
				}
			}
		}
		e.Query(e.OperatorToken, `mutation { runBilling(period: "2026-11") { invoices { lines { items { description amount
			license { id ip removedAt backup { id } }
			backup { id sizeGB removedAt license { id removedAt } }
			serverAccount { id login removedAt usedLicenses keys { id } } } } } } }`, nil, &nov)
		reached := map[string]bool{}
		for _, inv := range nov.RunBilling.Invoices {
			for _, l := range inv.Lines {
				for _, it := range l.Items {
					switch {
					case it.License != nil && it.License.RemovedAt != nil:
						reached[it.License.ID] = true
					case it.Backup != nil && it.Backup.RemovedAt != nil && it.Backup.License != nil:
						reached[it.Backup.ID] = true
					case it.ServerAccount != nil && it.ServerAccount.RemovedAt != nil:
						reached[it.ServerAccount.ID] = true
					}
				}
			}
		}
		if !reached[lic] || !reached[backupID] || !reached[acctID] {
			t.Fatalf("runBilling's items reach %v; want %s, %s and %s", reached, lic, backupID, acctID)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true }))
}

// An import's addedAt before a price change: the license is billed at the
// price in effect on each day, exactly as a license added that day. A
// KERNELCARE_PLUS imported from 03-03, across 30.00 → 60.00 on 03-12, costs
// 9/31 × 30.00 + 20/31 × 60.00 = 8.71 + 38.71 = 47.42 for March, not 29/31
// × 60.00 = 56.13.
func TestImportBillsByThePriceHistory(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		const setPrice = `mutation($p: Money!) { setProductPrice(input: {type: KERNELCARE_PLUS, monthlyPrice: $p}) { product { monthlyPrice } } }`
		a := e.Register("alice")
		b := e.Register("bob")
		b.Token = e.APIToken(b.Token, "READ_WRITE")
		e.Query(e.OperatorToken, setPrice, map[string]any{"p": "30.00"}, nil)

		advance(t, e, time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC))
		e.AddLicense(b.Token, "203.0.113.20", "KERNELCARE_PLUS", "added")
		advance(t, e, time.Date(2027, 3, 12, 0, 0, 0, 0, time.UTC))
		e.Query(e.OperatorToken, setPrice, map[string]any{"p": "60.00"}, nil)
		advance(t, e, time.Date(2027, 3, 20, 0, 0, 0, 0, time.UTC))
		e.Query(e.OperatorToken, `mutation($rid: ID!, $ls: [ImportIPLicenseInput!]!) {
			importIPLicenses(input: {resellerID: $rid, licenses: $ls}) { licenses { id } } }`,
			map[string]any{"rid": a.ID, "ls": []map[string]any{
				{"ip": "203.0.113.21", "type": "KERNELCARE_PLUS", "hostname": "imported", "addedAt": time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)},
			}}, nil)

		advance(t, e, time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC))
		var out struct {
			RunBilling struct {
				Invoices []struct {
					Total    string
					Reseller struct{ Login string }
					Lines    []struct {
						Items []struct {
							Amount                 string
							PeriodStart, PeriodEnd time.Time
						}
					}
				}
			}
		}
		e.Query(e.OperatorToken, `mutation { runBilling(period: "2027-03") { invoices { total reseller { login }
			lines { items { amount periodStart periodEnd } } } } }`, nil, &out)
		totals := map[string]string{}
		for _, inv := range out.RunBilling.Invoices {
			totals[inv.Reseller.Login] = inv.Total
			var amounts []string
			for _, l := range inv.Lines {
				for _, it := range l.Items {
					amounts = append(amounts, it.Amount)
				}
			}
			if len(amounts) != 2 || amounts[0] != "8.71" || amounts[1] != "38.71" {
				t.Errorf("%s's items: %v, want 8.71 (30.00 from 03-03) and 38.71 (60.00 from 03-12)", inv.Reseller.Login, amounts)
			}
		}
		if totals["alice"] != "47.42" || totals["bob"] != "47.42" {
			t.Fatalf("March totals %v: the import (alice) must cost 47.42, what bob's license added on 03-03 costs", totals)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true }))
}
